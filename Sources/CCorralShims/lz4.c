// LZ4 frame compression through the system's liblz4 (Debian's liblz4-1, present on the base
// image without its headers): loaded with dlopen so building needs nothing extra, and a machine
// without it gets a clear error instead of a link failure. The structs below mirror the library's
// documented ABI (lz4frame.h, v1.9): LZ4F_frameInfo_t and LZ4F_preferences_t.
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include "corral_shims.h"

typedef struct {
    unsigned block_size_id;       // 7 = 4 MiB blocks
    unsigned block_mode;          // 1 = independent blocks
    unsigned content_checksum;    // 1 = on
    unsigned frame_type;          // 0 = frame
    unsigned long long content_size;
    unsigned dict_id;
    unsigned block_checksum;      // 0 = off
} lz4f_frame_info;

typedef struct {
    lz4f_frame_info frame_info;
    int compression_level;
    unsigned auto_flush;
    unsigned favor_dec_speed;
    unsigned reserved[3];
} lz4f_preferences;

typedef size_t (*bound_fn)(size_t, const lz4f_preferences *);
typedef size_t (*compress_fn)(void *, size_t, const void *, size_t, const lz4f_preferences *);
typedef unsigned (*is_error_fn)(size_t);
typedef const char *(*error_name_fn)(size_t);
typedef size_t (*create_dctx_fn)(void **, unsigned);
typedef size_t (*free_dctx_fn)(void *);
typedef size_t (*decompress_fn)(void *, void *, size_t *, const void *, size_t *, const void *);

static struct {
    int ok;
    bound_fn bound; compress_fn compress; is_error_fn is_error; error_name_fn error_name;
    create_dctx_fn create_dctx; free_dctx_fn free_dctx; decompress_fn decompress;
} lz4;

// Runs once for the whole process, whichever thread asks first (workers compress in parallel).
static void load_once(void) {
    void *lib = dlopen("liblz4.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return;
    lz4.bound = (bound_fn)dlsym(lib, "LZ4F_compressFrameBound");
    lz4.compress = (compress_fn)dlsym(lib, "LZ4F_compressFrame");
    lz4.is_error = (is_error_fn)dlsym(lib, "LZ4F_isError");
    lz4.error_name = (error_name_fn)dlsym(lib, "LZ4F_getErrorName");
    lz4.create_dctx = (create_dctx_fn)dlsym(lib, "LZ4F_createDecompressionContext");
    lz4.free_dctx = (free_dctx_fn)dlsym(lib, "LZ4F_freeDecompressionContext");
    lz4.decompress = (decompress_fn)dlsym(lib, "LZ4F_decompress");
    lz4.ok = lz4.bound && lz4.compress && lz4.is_error && lz4.error_name && lz4.create_dctx && lz4.free_dctx && lz4.decompress;
}

static pthread_once_t loaded = PTHREAD_ONCE_INIT;

static int load(void) {
    pthread_once(&loaded, load_once);
    return lz4.ok;
}

// The frame Longhorn's writer (pierrec/lz4 v4 defaults) produces: 4 MiB independent blocks,
// content checksum on, block checksums off, no content size.
static void preferences(lz4f_preferences *p) {
    memset(p, 0, sizeof *p);
    p->frame_info.block_size_id = 7;
    p->frame_info.block_mode = 1;
    p->frame_info.content_checksum = 1;
}

int corral_lz4_available(void) { return load(); }

size_t corral_lz4_bound(size_t length) {
    if (!load()) return 0;
    lz4f_preferences p;
    preferences(&p);
    return lz4.bound(length, &p);
}

long corral_lz4_compress(const void *source, size_t length, void *destination, size_t capacity) {
    if (!load()) return -1;
    lz4f_preferences p;
    preferences(&p);
    size_t written = lz4.compress(destination, capacity, source, length, &p);
    return lz4.is_error(written) ? -1 : (long)written;
}

long corral_lz4_decompress(const void *source, size_t length, void *destination, size_t capacity) {
    if (!load()) return -1;
    void *context = NULL;
    if (lz4.is_error(lz4.create_dctx(&context, 100))) return -1;
    size_t consumed_total = 0, produced_total = 0, hint = 1;
    while (consumed_total < length && hint != 0) {
        size_t produced = capacity - produced_total, consumed = length - consumed_total;
        hint = lz4.decompress(context, (char *)destination + produced_total, &produced,
                              (const char *)source + consumed_total, &consumed, NULL);
        if (lz4.is_error(hint)) { lz4.free_dctx(context); return -1; }
        consumed_total += consumed;
        produced_total += produced;
        if (produced == 0 && consumed == 0) { lz4.free_dctx(context); return -2; }  // output full
    }
    lz4.free_dctx(context);
    return hint == 0 ? (long)produced_total : -1;  // hint != 0: the frame was cut short
}
