// SHA-512 through the system's OpenSSL libcrypto (libssl3: the Swift toolchain's libcurl needs it,
// so every machine that runs Swift has it), loaded with dlopen as liblz4 is. Its AVX2/BMI2 code
// hashes 2 MiB blocks at 530 MB/s a core on this machine kind, swift-crypto's BoringSSL at 235
// (docs/benchmarks.md), and SHA-512 names every backup block. Without the library callers fall
// back to swift-crypto, which gives the same digest.
#include <dlfcn.h>
#include <pthread.h>
#include "corral_shims.h"

// OpenSSL's one-shot SHA512(): thread-safe when given an output buffer.
typedef unsigned char *(*sha512_fn)(const unsigned char *, size_t, unsigned char *);

static sha512_fn system_sha512;
static pthread_once_t loaded = PTHREAD_ONCE_INIT;

static void load_once(void) {
    void *lib = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return;
    system_sha512 = (sha512_fn)dlsym(lib, "SHA512");
}

int corral_sha512(const void *data, size_t length, unsigned char digest[64]) {
    pthread_once(&loaded, load_once);
    if (!system_sha512) return 0;
    system_sha512((const unsigned char *)data, length, digest);
    return 1;
}
