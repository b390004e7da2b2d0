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

// The same library's streaming SHA-512, for a whole image hashed as it is read. The context is
// OpenSSL's SHA512_CTX (216 bytes) inside an opaque buffer large enough for it.
typedef int (*sha512_init_fn)(void *);
typedef int (*sha512_update_fn)(void *, const void *, size_t);
typedef int (*sha512_final_fn)(unsigned char *, void *);
static sha512_init_fn stream_init;
static sha512_update_fn stream_update;
static sha512_final_fn stream_final;
static pthread_once_t stream_loaded = PTHREAD_ONCE_INIT;

static void load_stream_once(void) {
    void *lib = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return;
    stream_init = (sha512_init_fn)dlsym(lib, "SHA512_Init");
    stream_update = (sha512_update_fn)dlsym(lib, "SHA512_Update");
    stream_final = (sha512_final_fn)dlsym(lib, "SHA512_Final");
    if (!stream_init || !stream_update || !stream_final) stream_init = 0;
}

int corral_sha512_init(corral_sha512_context *context) {
    pthread_once(&stream_loaded, load_stream_once);
    if (!stream_init) return 0;
    return stream_init(context->opaque) == 1;
}

void corral_sha512_update(corral_sha512_context *context, const void *data, size_t length) {
    stream_update(context->opaque, data, length);
}

void corral_sha512_final(corral_sha512_context *context, unsigned char digest[64]) {
    stream_final(digest, context->opaque);
}
