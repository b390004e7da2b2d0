/// Numbers of the NBD protocol (github.com/NetworkBlockDevice/nbd doc/proto.md).
public enum NBD {
    public static let initMagic: UInt64 = 0x4e42_444d_4147_4943  // "NBDMAGIC"
    public static let optionMagic: UInt64 = 0x4948_4156_454F_5054  // "IHAVEOPT"
    public static let optionReplyMagic: UInt64 = 0x0003_e889_0455_65a9
    public static let requestMagic: UInt32 = 0x2560_9513
    public static let simpleReplyMagic: UInt32 = 0x6744_6698
    public static let structuredReplyMagic: UInt32 = 0x668e_33ef

    public enum HandshakeFlag { public static let fixedNewstyle: UInt16 = 1, noZeroes: UInt16 = 2 }
    public enum ClientFlag { public static let fixedNewstyle: UInt32 = 1, noZeroes: UInt32 = 2 }

    public enum Option: UInt32 {
        case exportName = 1, abort = 2, list = 3, startTLS = 5, info = 6, go = 7
        case structuredReply = 8, listMetaContext = 9, setMetaContext = 10
    }

    public enum OptionReply: UInt32 {
        case ack = 1, server = 2, info = 3, metaContext = 4
        case errUnsupported = 0x8000_0001, errPolicy = 0x8000_0002, errInvalid = 0x8000_0003
        case errPlatform = 0x8000_0004, errTLSRequired = 0x8000_0005, errUnknown = 0x8000_0006
        case errShutdown = 0x8000_0007, errBlockSizeRequired = 0x8000_0008, errTooBig = 0x8000_0009
    }

    public enum Info: UInt16 { case export = 0, name = 1, description = 2, blockSize = 3 }

    public enum TransmissionFlag {
        public static let hasFlags: UInt16 = 1 << 0
        public static let readOnly: UInt16 = 1 << 1
        public static let sendFlush: UInt16 = 1 << 2
        public static let sendFUA: UInt16 = 1 << 3
        public static let sendTrim: UInt16 = 1 << 5
        public static let sendWriteZeroes: UInt16 = 1 << 6
        public static let sendDF: UInt16 = 1 << 7
        public static let canMultiConn: UInt16 = 1 << 8
    }

    public enum Command: UInt16 {
        case read = 0, write = 1, disconnect = 2, flush = 3, trim = 4, cache = 5, writeZeroes = 6, blockStatus = 7
    }

    public enum CommandFlag {
        public static let fua: UInt16 = 1 << 0
        public static let noHole: UInt16 = 1 << 1
        public static let dontFragment: UInt16 = 1 << 2
        public static let reqOne: UInt16 = 1 << 3
        public static let fastZero: UInt16 = 1 << 4
    }

    public enum ReplyType: UInt16 {
        case none = 0, offsetData = 1, offsetHole = 2, blockStatus = 5
        case error = 0x8001, errorOffset = 0x8002
    }

    public enum ReplyFlag { public static let done: UInt16 = 1 }

    public enum Errno: UInt32 {
        case ok = 0, perm = 1, io = 5, noMemory = 12, invalid = 22, noSpace = 28, overflow = 75
        case notSupported = 95, shutdown = 108
    }

    /// The meta context we serve and the id it gets.
    public static let baseAllocation = "base:allocation"
    public static let baseAllocationID: UInt32 = 1
    public enum AllocationFlag { public static let hole: UInt32 = 1, zero: UInt32 = 2 }

    public static let requestHeaderBytes = 28
}
