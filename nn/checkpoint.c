/*
 * checkpoint.c — parameters, optimizer state and counters in a safetensors file.
 *
 * Layout (the safetensors format): an 8-byte little-endian header length N; N bytes of JSON,
 * padded with spaces to a multiple of 8 so the data after it is 8-byte aligned; then the data
 * section, every tensor's little-endian values back to back in the header's order:
 *
 *     {"__metadata__": {"format": "seqgrad", "version": "1", "crc32": "1a2b3c4d",
 *                       "optimizer": "adam", "optimizer_steps": "120", "counter.epoch": "3"},
 *      "rnn.Wx": {"dtype": "F64", "shape": [3, 8], "data_offsets": [0, 192]}, ...,
 *      "optim.m.rnn.Wx": {...}, ...}
 *
 * Parameters come in the store's creation order, then each optimizer state array sliced by
 * parameter. The CRC-32 covers the whole data section.
 *
 * Saving writes "<path>.tmp.<pid>" beside the target, checks every write, flushes, fsyncs, and
 * only then renames it over the target (and fsyncs the directory): a crash or a full disk leaves
 * the old checkpoint whole. Loading reads the file into scratch memory and checks all of it —
 * sizes, header, version, checksum, every tensor against the model — before copying anything,
 * so a bad file leaves the parameters, the optimizer and the counters untouched.
 */
#include "nn_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define CK_FORMAT "seqgrad"
#define CK_DTYPE (sizeof(ad_real) == sizeof(double) ? "F64" : "F32")
#define CK_MAX_RANK 8

/* A broken contract (NULL store, counters out of range): a programmer error, not a bad file. */
#define usage_error(fn, what) nn_fail((fn), "%s", (what))

/* ------------------------------------------------ the tensors in memory ---- */

/* A tensor of the checkpoint as the model holds it. */
typedef struct ck_tensor {
    char *name;
    ad_real *data; /* a parameter's values, or its slice of an optimizer state array */
    int rows, cols;
} ck_tensor;

typedef struct ck_list {
    ck_tensor *t;
    int n;
} ck_list;

static void list_free(ck_list *l) {
    for (int i = 0; i < l->n; i++) free(l->t[i].name);
    free(l->t);
}

/* Every tensor a checkpoint of (ps, opt) holds, in file order. */
static nn_status list_build(const char *path, ad_params *ps, const nn_optim *opt, ck_list *l) {
    int np = ad_params_count(ps), ns = opt ? nn_optim_state_count(opt) : 0;
    l->n = 0;
    l->t = calloc((size_t)np * (size_t)(1 + ns) + 1, sizeof *l->t);
    if (!l->t) return nn_set_error(NN_ERR_MEMORY, "%s: out of memory listing tensors", path);
    for (int s = -1; s < ns; s++) {
        const char *state = NULL;
        ad_real *base = s < 0 ? NULL : nn_optim_state(opt, s, &state);
        for (int i = 0; i < np; i++) {
            ad_tensor *p = ad_params_at(ps, i);
            ck_tensor *t = &l->t[l->n];
            size_t len = strlen(ad_name(p)) + (s < 0 ? 1 : strlen(state) + 8);
            t->name = malloc(len);
            if (!t->name) {
                list_free(l);
                *l = (ck_list){0};
                return nn_set_error(NN_ERR_MEMORY, "%s: out of memory listing tensors", path);
            }
            if (s < 0) snprintf(t->name, len, "%s", ad_name(p));
            else snprintf(t->name, len, "optim.%s.%s", state, ad_name(p));
            t->data = s < 0 ? ad_data(p) : base + ad_param_offset(p);
            t->rows = ad_rows(p);
            t->cols = ad_cols(p);
            l->n++;
        }
    }
    return NN_OK;
}

static size_t tensor_bytes(const ck_tensor *t) {
    return (size_t)t->rows * (size_t)t->cols * sizeof(ad_real);
}

/* ---------------------------------------------------- little-endian data ---- */

static bool host_little_endian(void) {
    const uint16_t one = 1;
    uint8_t first;
    memcpy(&first, &one, 1);
    return first == 1;
}

static void swap_reals(uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++, p += sizeof(ad_real))
        for (size_t a = 0, b = sizeof(ad_real) - 1; a < b; a++, b--) {
            uint8_t c = p[a];
            p[a] = p[b];
            p[b] = c;
        }
}

/* Feed every tensor's values, as little-endian bytes, to fn in chunks; stop at fn's first
 * nonzero return and give it back. */
typedef int (*chunk_fn)(void *ctx, const uint8_t *bytes, size_t n);

static int list_each_chunk(const ck_list *l, chunk_fn fn, void *ctx) {
    enum { CHUNK = 512 };
    uint8_t buf[CHUNK * sizeof(ad_real)];
    bool le = host_little_endian();
    for (int i = 0; i < l->n; i++) {
        size_t n = (size_t)l->t[i].rows * (size_t)l->t[i].cols;
        for (size_t k = 0; k < n; k += CHUNK) {
            size_t m = n - k < CHUNK ? n - k : CHUNK;
            memcpy(buf, l->t[i].data + k, m * sizeof(ad_real));
            if (!le) swap_reals(buf, m);
            int rc = fn(ctx, buf, m * sizeof(ad_real));
            if (rc) return rc;
        }
    }
    return 0;
}

static int crc_chunk(void *ctx, const uint8_t *bytes, size_t n) {
    uLong *crc = ctx;
    *crc = crc32(*crc, bytes, (uInt)n); /* n is at most a chunk */
    return 0;
}

static int write_chunk(void *ctx, const uint8_t *bytes, size_t n) {
    return fwrite(bytes, 1, n, ctx) == n ? 0 : -1;
}

/* ---------------------------------------------------------------- save ---- */

/* Set key to a string in obj; false when out of memory or the key or value is not UTF-8. */
static bool set_str(json_t *obj, const char *key, const char *value) {
    return json_object_set_new(obj, key, json_string(value)) == 0;
}

/* __metadata__: every value a string, as safetensors requires. NULL when out of memory. */
static json_t *meta_new(const nn_optim *opt, const nn_counters *counters, uLong crc) {
    json_t *meta = json_object();
    char buf[64];
    bool ok = meta && set_str(meta, "format", CK_FORMAT);
    snprintf(buf, sizeof buf, "%d", NN_CHECKPOINT_VERSION);
    ok = ok && set_str(meta, "version", buf);
    snprintf(buf, sizeof buf, "%08lx", (unsigned long)crc);
    ok = ok && set_str(meta, "crc32", buf);
    if (ok && opt) {
        ok = set_str(meta, "optimizer", nn_optim_kind_name(nn_optim_get_config(opt)->kind));
        snprintf(buf, sizeof buf, "%ld", nn_optim_steps(opt));
        ok = ok && set_str(meta, "optimizer_steps", buf);
    }
    for (int i = 0; ok && counters && i < counters->n; i++) {
        char key[256];
        if (snprintf(key, sizeof key, "counter.%s", counters->name[i]) >= (int)sizeof key)
            usage_error("nn_checkpoint_save", "a counter name is longer than 240 bytes");
        if (json_object_get(meta, key))
            usage_error("nn_checkpoint_save", "two counters have the same name");
        snprintf(buf, sizeof buf, "%" PRIu64, counters->value[i]);
        if (!set_str(meta, key, buf)) usage_error("nn_checkpoint_save", "a counter name not UTF-8");
    }
    if (!ok) json_decref(meta);
    return ok ? meta : NULL;
}

/* The header: compact JSON padded with spaces to a multiple of 8 bytes. */
static nn_status header_build(const char *path, const ck_list *l, const nn_optim *opt,
                              const nn_counters *counters, uLong crc, char **out, size_t *len) {
    json_t *root = json_object(), *meta = meta_new(opt, counters, crc);
    if (!root || !meta || json_object_set_new(root, "__metadata__", meta) != 0) {
        json_decref(root);
        if (!root) json_decref(meta); /* otherwise set_new took it, even on failure */
        return nn_set_error(NN_ERR_MEMORY, "%s: out of memory building the header", path);
    }
    nn_status st = NN_OK;
    size_t offset = 0;
    for (int i = 0; i < l->n && !st; i++) {
        const ck_tensor *t = &l->t[i];
        json_t *e = json_pack("{s:s, s:[ii], s:[II]}", "dtype", CK_DTYPE, "shape", t->rows,
                              t->cols, "data_offsets", (json_int_t)offset,
                              (json_int_t)(offset + tensor_bytes(t)));
        if (json_object_get(root, t->name)) {
            json_decref(e);
            st = nn_set_error(NN_ERR_FORMAT, "%s: two tensors would be named \"%s\"", path,
                              t->name);
        } else if (!e || json_object_set_new(root, t->name, e) != 0) {
            st = nn_set_error(NN_ERR_FORMAT, "%s: tensor name \"%s\" cannot be stored (is it "
                              "UTF-8?), or out of memory", path, t->name);
        }
        offset += tensor_bytes(t);
    }
    char *text = st ? NULL : json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (st) return st;
    size_t n = text ? strlen(text) : 0, padded = (n + 7) / 8 * 8;
    char *h = text ? realloc(text, padded) : NULL;
    if (!h) {
        free(text);
        return nn_set_error(NN_ERR_MEMORY, "%s: out of memory building the header", path);
    }
    memset(h + n, ' ', padded - n);
    *out = h;
    *len = padded;
    return NN_OK;
}

/* Make the rename durable: fsync the directory holding path. Filesystems that cannot sync a
 * directory say EINVAL; there is nothing more to do on them. */
static int sync_parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir) return ENOMEM;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), err = 0;
    if (fd < 0) err = errno;
    else if (fsync(fd) != 0 && errno != EINVAL) err = errno;
    if (fd >= 0) close(fd);
    free(dir);
    return err;
}

nn_status nn_file_begin(const char *path, FILE **f, char **tmp) {
    *f = NULL;
    const size_t tlen = strlen(path) + 32;
    *tmp = malloc(tlen);
    if (!*tmp) return nn_set_error(NN_ERR_MEMORY, "%s: out of memory", path);
    snprintf(*tmp, tlen, "%s.tmp.%ld", path, (long)getpid());
    /* A stale temporary of a crashed process with the same pid is overwritten (O_TRUNC). */
    const int fd = open(*tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!*f) {
        const int err = errno;
        if (fd >= 0) {
            close(fd);
            unlink(*tmp);
        }
        nn_set_error(NN_ERR_IO, "%s: cannot create %s: %s", path, *tmp, strerror(err));
        free(*tmp);
        *tmp = NULL;
        return NN_ERR_IO;
    }
    errno = 0; /* what a failed write leaves here is the reason nn_file_commit reports */
    return NN_OK;
}

nn_status nn_file_commit(FILE *f, char *tmp, const char *path) {
    const char *failed = NULL;
    /* errno is read right after the step that failed, before anything else can set it. */
    int err = 0;
    if (ferror(f) || fflush(f) != 0) failed = "writing";
    else if (fsync(fileno(f)) != 0) failed = "syncing";
    if (failed) err = errno;
    if (fclose(f) != 0 && !failed) {
        failed = "closing";
        err = errno;
    }
    if (!failed && rename(tmp, path) != 0) {
        failed = "renaming";
        err = errno;
    }
    if (failed) {
        unlink(tmp);
        nn_set_error(NN_ERR_IO, "%s: %s %s failed: %s", path, failed, tmp,
                     err ? strerror(err) : "short write");
        free(tmp);
        return NN_ERR_IO;
    }
    free(tmp);
    err = sync_parent_dir(path);
    if (err)
        return nn_set_error(NN_ERR_IO, "%s: written, but syncing its directory failed: %s", path,
                            strerror(err));
    return NN_OK;
}

static nn_status write_atomic(const char *path, const char *header, size_t hlen,
                              const ck_list *l) {
    FILE *f;
    char *tmp;
    nn_status st = nn_file_begin(path, &f, &tmp);
    if (st) return st;
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    /* stop at the first failed write: nn_file_commit reports it */
    if (fwrite(len8, 1, 8, f) == 8 && fwrite(header, 1, hlen, f) == hlen)
        list_each_chunk(l, write_chunk, f);
    return nn_file_commit(f, tmp, path);
}

nn_status nn_checkpoint_save(const char *path, ad_params *ps, const nn_optim *opt,
                             const nn_counters *counters) {
    if (!path || !ps) usage_error("nn_checkpoint_save", "NULL path or parameter store");
    if (counters) {
        if (counters->n < 0 || counters->n > NN_CHECKPOINT_MAX_COUNTERS)
            usage_error("nn_checkpoint_save", "counters.n outside [0, NN_CHECKPOINT_MAX_COUNTERS]");
        for (int i = 0; i < counters->n; i++)
            if (!counters->name[i] || !counters->name[i][0])
                usage_error("nn_checkpoint_save", "a counter without a name");
    }
    ck_list l;
    nn_status st = list_build(path, ps, opt, &l);
    if (st) return st;
    uLong crc = crc32(0L, Z_NULL, 0);
    list_each_chunk(&l, crc_chunk, &crc);
    char *header = NULL;
    size_t hlen = 0;
    st = header_build(path, &l, opt, counters, crc, &header, &hlen);
    if (!st) st = write_atomic(path, header, hlen, &l);
    free(header);
    list_free(&l);
    return st;
}

/* ---------------------------------------------------------------- load ---- */

/* A tensor as the file's header describes it. */
typedef struct ck_entry {
    const char *name, *dtype;
    int rank;
    uint64_t shape[CK_MAX_RANK];
    uint64_t begin, end; /* byte range in the data section */
} ck_entry;

/* The file in scratch memory. */
typedef struct ck_file {
    const char *path;
    uint8_t *bytes;
    size_t size;
    const uint8_t *data; /* the data section */
    size_t data_size;
    json_t *root, *meta;
} ck_file;

static size_t dtype_size(const char *dtype) {
    static const struct {
        const char *name;
        size_t size;
    } table[] = {{"F64", 8}, {"F32", 4}, {"F16", 2},  {"BF16", 2}, {"I64", 8},
                 {"I32", 4}, {"I16", 2}, {"I8", 1},   {"U64", 8},  {"U32", 4},
                 {"U16", 2}, {"U8", 1},  {"BOOL", 1}, {"F8_E5M2", 1}, {"F8_E4M3", 1}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(dtype, table[i].name) == 0) return table[i].size;
    return 0;
}

/* "[3, 8]" */
static const char *shape_text(const ck_entry *e, char *buf, size_t n) {
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < e->rank && k < n; d++)
        k += (size_t)snprintf(buf + k, n - k, "%s%" PRIu64, d ? ", " : "", e->shape[d]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

/* Parse one header entry, checking its fields against each other and the data section. */
static nn_status entry_parse(const ck_file *f, const char *name, json_t *v, ck_entry *e) {
    json_t *dtype = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape");
    json_t *offs = json_object_get(v, "data_offsets");
    e->name = name;
    if (!json_is_object(v) || !json_is_string(dtype) || !json_is_array(shape) ||
        !json_is_array(offs) || json_array_size(offs) != 2 ||
        !json_is_integer(json_array_get(offs, 0)) || !json_is_integer(json_array_get(offs, 1)))
        return nn_set_error(NN_ERR_FORMAT, "%s: header entry \"%s\" lacks a string dtype, a "
                            "shape or two data_offsets", f->path, name);
    e->dtype = json_string_value(dtype);
    size_t dsize = dtype_size(e->dtype);
    if (!dsize)
        return nn_set_error(NN_ERR_FORMAT, "%s: tensor \"%s\" has unknown dtype \"%s\"", f->path,
                            name, e->dtype);
    if (json_array_size(shape) > CK_MAX_RANK)
        return nn_set_error(NN_ERR_FORMAT, "%s: tensor \"%s\" has more than %d dimensions",
                            f->path, name, CK_MAX_RANK);
    e->rank = (int)json_array_size(shape);
    uint64_t count = 1;
    for (int d = 0; d < e->rank; d++) {
        json_t *x = json_array_get(shape, (size_t)d);
        json_int_t dim = json_is_integer(x) ? json_integer_value(x) : -1;
        if (dim < 0 || (dim > 0 && count > UINT64_MAX / 8 / (uint64_t)dim))
            return nn_set_error(NN_ERR_FORMAT, "%s: tensor \"%s\" has an invalid shape", f->path,
                                name);
        e->shape[d] = (uint64_t)dim;
        count *= (uint64_t)dim;
    }
    json_int_t b = json_integer_value(json_array_get(offs, 0));
    json_int_t end = json_integer_value(json_array_get(offs, 1));
    if (b < 0 || end < b)
        return nn_set_error(NN_ERR_FORMAT, "%s: tensor \"%s\" has invalid data_offsets", f->path,
                            name);
    e->begin = (uint64_t)b;
    e->end = (uint64_t)end;
    if (e->end - e->begin != count * dsize)
        return nn_set_error(NN_ERR_FORMAT, "%s: tensor \"%s\" spans %" PRIu64 " bytes, but %s "
                            "of shape %s needs %" PRIu64, f->path, name, e->end - e->begin,
                            e->dtype, shape_text(e, (char[96]){0}, 96), count * dsize);
    if (e->end > f->data_size)
        return nn_set_error(NN_ERR_FORMAT, "%s: truncated: tensor \"%s\" ends at byte %" PRIu64
                            " of the data, but the file holds %zu", f->path, name, e->end,
                            f->data_size);
    return NN_OK;
}

static bool parse_u64(const char *s, uint64_t *v) {
    uint64_t x = 0;
    if (!*s) return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return false;
        unsigned d = (unsigned)(*s - '0');
        if (x > (UINT64_MAX - d) / 10) return false;
        x = x * 10 + d;
    }
    *v = x;
    return true;
}

/* Read the whole file: its size, the header length, the header and the data. */
static nn_status file_read(ck_file *f) {
    FILE *fp = fopen(f->path, "rb");
    if (!fp) return nn_set_error(NN_ERR_IO, "%s: cannot open: %s", f->path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0) {
        int err = errno;
        fclose(fp);
        return nn_set_error(NN_ERR_IO, "%s: cannot stat: %s", f->path, strerror(err));
    }
    if (sb.st_size < 8) {
        fclose(fp);
        return nn_set_error(NN_ERR_FORMAT, "%s: %lld bytes, too short for a checkpoint (an "
                            "8-byte header length comes first)", f->path, (long long)sb.st_size);
    }
    f->size = (size_t)sb.st_size;
    f->bytes = malloc(f->size);
    if (!f->bytes) {
        fclose(fp);
        return nn_set_error(NN_ERR_MEMORY, "%s: out of memory reading %zu bytes", f->path,
                            f->size);
    }
    size_t got = fread(f->bytes, 1, f->size, fp);
    int err = ferror(fp) ? errno : 0;
    fclose(fp);
    if (got != f->size)
        return nn_set_error(NN_ERR_IO, "%s: read %zu of its %zu bytes: %s", f->path, got,
                            f->size, err ? strerror(err) : "the file shrank");

    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)f->bytes[i] << (8 * i);
    if (hlen > f->size - 8)
        return nn_set_error(NN_ERR_FORMAT, "%s: header length %" PRIu64 " runs past the end of "
                            "the file (%zu bytes): truncated or not a checkpoint", f->path, hlen,
                            f->size);
    f->data = f->bytes + 8 + hlen;
    f->data_size = f->size - 8 - (size_t)hlen;

    json_error_t jerr;
    f->root = json_loadb((const char *)f->bytes + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!f->root)
        return nn_set_error(NN_ERR_FORMAT, "%s: the header is not valid JSON: %s (line %d, "
                            "column %d)", f->path, jerr.text, jerr.line, jerr.column);
    if (!json_is_object(f->root))
        return nn_set_error(NN_ERR_FORMAT, "%s: the header is not a JSON object", f->path);
    return NN_OK;
}

/* __metadata__: every value a string; the format, version and checksum present and right. */
static nn_status meta_check(ck_file *f) {
    f->meta = json_object_get(f->root, "__metadata__");
    if (!json_is_object(f->meta))
        return nn_set_error(NN_ERR_FORMAT, "%s: no \"__metadata__\" object in the header: not a "
                            "seqgrad checkpoint", f->path);
    const char *key;
    json_t *v;
    json_object_foreach(f->meta, key, v) {
        if (!json_is_string(v))
            return nn_set_error(NN_ERR_FORMAT, "%s: __metadata__ value \"%s\" is not a string",
                                f->path, key);
    }
    const char *format = json_string_value(json_object_get(f->meta, "format"));
    const char *version = json_string_value(json_object_get(f->meta, "version"));
    const char *crc = json_string_value(json_object_get(f->meta, "crc32"));
    if (!format || strcmp(format, CK_FORMAT) != 0)
        return nn_set_error(NN_ERR_FORMAT, "%s: __metadata__ format is %s%s%s, not \"%s\"",
                            f->path, format ? "\"" : "", format ? format : "missing",
                            format ? "\"" : "", CK_FORMAT);
    uint64_t ver;
    if (!version || !parse_u64(version, &ver))
        return nn_set_error(NN_ERR_FORMAT, "%s: __metadata__ version is %s, not a number",
                            f->path, version ? version : "missing");
    if (ver != NN_CHECKPOINT_VERSION)
        return nn_set_error(NN_ERR_VERSION, "%s: checkpoint format version %s, but this build "
                            "reads version %d", f->path, version, NN_CHECKPOINT_VERSION);
    if (!crc || strlen(crc) != 8 || strspn(crc, "0123456789abcdefABCDEF") != 8)
        return nn_set_error(NN_ERR_FORMAT, "%s: __metadata__ crc32 is %s, not 8 hex digits",
                            f->path, crc ? crc : "missing");
    return NN_OK;
}

static int entry_cmp(const void *a, const void *b) {
    const ck_entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

/* Every entry well formed, and together they cover the data section exactly, without gaps or
 * overlaps, as safetensors requires. Then the checksum. */
static nn_status entries_check(ck_file *f) {
    size_t n = json_object_size(f->root);
    ck_entry *es = malloc((n + 1) * sizeof *es);
    if (!es) return nn_set_error(NN_ERR_MEMORY, "%s: out of memory", f->path);
    size_t k = 0;
    const char *key;
    json_t *v;
    nn_status st = NN_OK;
    json_object_foreach(f->root, key, v) {
        if (strcmp(key, "__metadata__") == 0) continue;
        st = entry_parse(f, key, v, &es[k++]);
        if (st) break;
    }
    if (!st) {
        qsort(es, k, sizeof *es, entry_cmp);
        uint64_t at = 0;
        for (size_t i = 0; i < k && !st; i++) {
            if (es[i].begin != at)
                st = nn_set_error(NN_ERR_FORMAT, "%s: tensor \"%s\" starts at byte %" PRIu64
                                  " of the data, expected %" PRIu64 " (a gap or an overlap)",
                                  f->path, es[i].name, es[i].begin, at);
            at = es[i].end;
        }
        if (!st && at != f->data_size)
            st = nn_set_error(NN_ERR_FORMAT, "%s: %zu bytes of data, but the tensors cover %"
                              PRIu64, f->path, f->data_size, at);
    }
    free(es);
    if (st) return st;

    uLong crc = crc32(0L, Z_NULL, 0);
    for (size_t done = 0; done < f->data_size;) { /* crc32 takes at most UINT_MAX bytes */
        size_t m = f->data_size - done < (1u << 30) ? f->data_size - done : (1u << 30);
        crc = crc32(crc, f->data + done, (uInt)m);
        done += m;
    }
    const char *want = json_string_value(json_object_get(f->meta, "crc32"));
    if (strtoul(want, NULL, 16) != crc)
        return nn_set_error(NN_ERR_CHECKSUM, "%s: the data's CRC-32 is %08lx, the header says %s:"
                            " the file is corrupt", f->path, (unsigned long)crc, want);
    return NN_OK;
}

/* The optimizer in the file is the one given; its step count. */
static nn_status optim_check(const ck_file *f, const nn_optim *opt, long *steps) {
    if (!opt) return NN_OK;
    const char *mine = nn_optim_kind_name(nn_optim_get_config(opt)->kind);
    const char *theirs = json_string_value(json_object_get(f->meta, "optimizer"));
    if (!theirs)
        return nn_set_error(NN_ERR_MISMATCH, "%s: the file holds no optimizer state, but an "
                            "optimizer (%s) was given", f->path, mine);
    if (strcmp(theirs, mine) != 0)
        return nn_set_error(NN_ERR_MISMATCH, "%s: the file's optimizer is %s, the given one is %s",
                            f->path, theirs, mine);
    const char *s = json_string_value(json_object_get(f->meta, "optimizer_steps"));
    uint64_t v;
    if (!s || !parse_u64(s, &v) || v > (uint64_t)LONG_MAX)
        return nn_set_error(NN_ERR_FORMAT, "%s: __metadata__ optimizer_steps is %s, not a count",
                            f->path, s ? s : "missing");
    *steps = (long)v;
    return NN_OK;
}

/* Each tensor of the model in the file with its dtype and shape; no tensor of the file left
 * over (optimizer state is skipped when no optimizer was given: loading weights only). */
static nn_status tensors_match(const ck_file *f, const ck_list *l, bool with_opt) {
    for (int i = 0; i < l->n; i++) {
        const ck_tensor *t = &l->t[i];
        json_t *v = json_object_get(f->root, t->name);
        if (!v)
            return nn_set_error(NN_ERR_MISMATCH, "%s: tensor \"%s\" (shape [%d, %d] in the "
                                "model) is not in the file", f->path, t->name, t->rows, t->cols);
        ck_entry e;
        entry_parse(f, t->name, v, &e); /* checked already */
        char buf[96];
        if (e.rank != 2 || e.shape[0] != (uint64_t)t->rows || e.shape[1] != (uint64_t)t->cols)
            return nn_set_error(NN_ERR_MISMATCH, "%s: tensor \"%s\" has shape %s in the file, "
                                "[%d, %d] in the model", f->path, t->name,
                                shape_text(&e, buf, sizeof buf), t->rows, t->cols);
        if (strcmp(e.dtype, CK_DTYPE) != 0)
            return nn_set_error(NN_ERR_MISMATCH, "%s: tensor \"%s\" (shape %s) is %s in the file,"
                                " %s in this build", f->path, t->name,
                                shape_text(&e, buf, sizeof buf), e.dtype, CK_DTYPE);
    }
    /* The reverse direction, with the model's names as a hash set. */
    json_t *want = json_object();
    if (!want) return nn_set_error(NN_ERR_MEMORY, "%s: out of memory", f->path);
    for (int i = 0; i < l->n; i++)
        if (json_object_set_new(want, l->t[i].name, json_true()) != 0) {
            json_decref(want);
            return nn_set_error(NN_ERR_MEMORY, "%s: out of memory", f->path);
        }
    const char *key;
    json_t *v;
    nn_status st = NN_OK;
    json_object_foreach(f->root, key, v) {
        if (strcmp(key, "__metadata__") == 0 || json_object_get(want, key)) continue;
        if (!with_opt && strncmp(key, "optim.", 6) == 0) continue;
        st = nn_set_error(NN_ERR_MISMATCH, "%s: tensor \"%s\" of the file is not in the model",
                          f->path, key);
        break;
    }
    json_decref(want);
    return st;
}

static nn_status counters_read(const ck_file *f, const nn_counters *c, uint64_t *values) {
    for (int i = 0; c && i < c->n; i++) {
        char key[256];
        snprintf(key, sizeof key, "counter.%s", c->name[i]);
        const char *s = json_string_value(json_object_get(f->meta, key));
        if (!s)
            return nn_set_error(NN_ERR_MISMATCH, "%s: counter \"%s\" is not in the file", f->path,
                                c->name[i]);
        if (!parse_u64(s, &values[i]))
            return nn_set_error(NN_ERR_FORMAT, "%s: counter \"%s\" is \"%s\", not a decimal "
                                "count", f->path, c->name[i], s);
    }
    return NN_OK;
}

nn_status nn_checkpoint_load(const char *path, ad_params *ps, nn_optim *opt,
                             nn_counters *counters) {
    if (!path || !ps) usage_error("nn_checkpoint_load", "NULL path or parameter store");
    if (counters && (counters->n < 0 || counters->n > NN_CHECKPOINT_MAX_COUNTERS))
        usage_error("nn_checkpoint_load", "counters.n outside [0, NN_CHECKPOINT_MAX_COUNTERS]");
    for (int i = 0; counters && i < counters->n; i++)
        if (!counters->name[i]) usage_error("nn_checkpoint_load", "a counter without a name");

    ck_file f = {.path = path};
    ck_list l = {0};
    long steps = 0;
    uint64_t values[NN_CHECKPOINT_MAX_COUNTERS];
    nn_status st = file_read(&f);
    if (!st) st = meta_check(&f);
    if (!st) st = entries_check(&f);
    if (!st) st = optim_check(&f, opt, &steps);
    if (!st) st = list_build(path, ps, opt, &l);
    if (!st) st = tensors_match(&f, &l, opt != NULL);
    if (!st) st = counters_read(&f, counters, values);

    /* Everything checked: only now does memory change. */
    if (!st) {
        bool le = host_little_endian();
        for (int i = 0; i < l.n; i++) {
            ck_entry e;
            entry_parse(&f, l.t[i].name, json_object_get(f.root, l.t[i].name), &e);
            size_t n = (size_t)l.t[i].rows * (size_t)l.t[i].cols;
            memcpy(l.t[i].data, f.data + e.begin, n * sizeof(ad_real));
            if (!le) swap_reals((uint8_t *)l.t[i].data, n);
        }
        if (opt) nn_optim_set_steps(opt, steps);
        for (int i = 0; counters && i < counters->n; i++) counters->value[i] = values[i];
    }
    list_free(&l);
    json_decref(f.root);
    free(f.bytes);
    return st;
}

nn_status nn_checkpoint_counters(const char *path, nn_counters *counters) {
    if (!path || !counters) usage_error("nn_checkpoint_counters", "NULL path or counters");
    if (counters->n < 0 || counters->n > NN_CHECKPOINT_MAX_COUNTERS)
        usage_error("nn_checkpoint_counters", "counters.n outside [0, NN_CHECKPOINT_MAX_COUNTERS]");
    for (int i = 0; i < counters->n; i++)
        if (!counters->name[i]) usage_error("nn_checkpoint_counters", "a counter without a name");
    ck_file f = {.path = path};
    uint64_t values[NN_CHECKPOINT_MAX_COUNTERS];
    nn_status st = file_read(&f); /* the same checks as a load, short of a model to match */
    if (!st) st = meta_check(&f);
    if (!st) st = entries_check(&f);
    if (!st) st = counters_read(&f, counters, values);
    if (!st)
        for (int i = 0; i < counters->n; i++) counters->value[i] = values[i];
    json_decref(f.root);
    free(f.bytes);
    return st;
}
