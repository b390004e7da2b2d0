"""Which disk calls wait, and how long, on the file systems given (issue 18; docs/architecture.md,
"Threads"). Needs root (drop_caches). Usage: python3 scripts/bench/disk_waits.py /var/tmp /dev/shm [xfs mount]
For xfs: truncate -s 2G /var/tmp/xfs.img && mkfs.xfs -q /var/tmp/xfs.img && mount -o loop /var/tmp/xfs.img /mnt/x
"""
import os, sys, time, random
def drop():
    os.sync(); open("/proc/sys/vm/drop_caches","w").write("3\n")
def t(f):
    s=time.perf_counter(); r=f(); return (time.perf_counter()-s)*1e6, r
def probe(dirpath, size=256<<20):
    path=os.path.join(dirpath,"probe.img")
    with open(path,"wb") as f:
        for _ in range(size>>20): f.write(os.urandom(1<<20))
    fd=os.open(path, os.O_RDWR)
    drop()
    buf=bytearray(4096)
    res={}
    try:
        us,_=t(lambda: os.preadv(fd,[buf],4096*10,os.RWF_NOWAIT)); res["nowait_cold"]=f"{us:.0f}us ok"
    except OSError as e: res["nowait_cold"]=f"errno {e.errno} {e.strerror}"
    lat=[t(lambda: os.pread(fd,4096,random.randrange(size//4096)*4096))[0] for _ in range(200)]
    lat.sort(); res["cold_pread_p50/p99"]=f"{lat[100]:.0f}/{lat[198]:.0f}us"
    try:
        n=os.preadv(fd,[buf],4096*10,os.RWF_NOWAIT); res["nowait_warm"]=f"ok {n}"
    except OSError as e: res["nowait_warm"]=f"errno {e.errno}"
    wl=[t(lambda: os.pwrite(fd,os.urandom(4096),random.randrange(size//4096)*4096))[0] for _ in range(200)]
    wl.sort(); res["buffered_write_p50/p99/max"]=f"{wl[100]:.0f}/{wl[198]:.0f}/{wl[199]:.0f}us"
    try:
        os.pwritev(fd,[buf],0,os.RWF_NOWAIT); res["pwrite_nowait"]="ok"
    except OSError as e: res["pwrite_nowait"]=f"errno {e.errno} {e.strerror}"
    fl=[]
    for _ in range(20):
        os.pwrite(fd,os.urandom(4096),random.randrange(size//4096)*4096)
        fl.append(t(lambda: os.fdatasync(fd))[0])
    fl.sort(); res["fdatasync_p50/max"]=f"{fl[10]:.0f}/{fl[19]:.0f}us"
    os.close(fd); os.unlink(path)
    return res
for d in sys.argv[1:]:
    print(d, probe(d))
