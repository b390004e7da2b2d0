import Foundation
import Testing
@testable import CorralBackup

/// AWS's published Signature Version 4 examples for S3 ("Examples of how to calculate signature
/// for authorization header", credentials AKIAIOSFODNN7EXAMPLE). botocore's signer is compared
/// on 300 random requests by scripts/interop/test-backup.sh (sigv4_vectors.py, `corral backupstore sigv4-check`).
struct SigV4Tests {
    let signer = SigV4Signer(accessKey: "AKIAIOSFODNN7EXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", region: "us-east-1")
    let date = Date(timeIntervalSince1970: 1_369_353_600)  // 20130524T000000Z
    let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    @Test func getObjectExample() {
        let request = SigV4Signer.Request(method: "GET", host: "examplebucket.s3.amazonaws.com", path: "/test.txt",
                                          headers: ["Range": "bytes=0-9"], payloadHash: empty)
        let headers = signer.sign(request, at: date)
        #expect(headers["Authorization"] == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test func putObjectExample() {
        let body = Data("Welcome to Amazon S3.".utf8)
        let request = SigV4Signer.Request(method: "PUT", host: "examplebucket.s3.amazonaws.com", path: "/test%24file.text",
                                          headers: ["Date": "Fri, 24 May 2013 00:00:00 GMT", "x-amz-storage-class": "REDUCED_REDUNDANCY"],
                                          payloadHash: SigV4Signer.payloadHash(body))
        let headers = signer.sign(request, at: date)
        #expect(headers["Authorization"]?.hasSuffix("Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd") == true)
    }

    @Test func listObjectsExample() {
        let request = SigV4Signer.Request(method: "GET", host: "examplebucket.s3.amazonaws.com", path: "/",
                                          query: [("max-keys", "2"), ("prefix", "J")], payloadHash: empty)
        let headers = signer.sign(request, at: date)
        #expect(headers["Authorization"]?.hasSuffix("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7") == true)
    }
}
