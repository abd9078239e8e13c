/*
 * Tests of nn/checkpoint.c and nn/status.c: an exact round trip of parameters, optimizer state
 * and counters; the file is plain safetensors; every kind of bad file is refused with its status
 * and a message starting with the path, leaving memory bit-for-bit as it was; a full disk keeps
 * the old checkpoint.
 */
#include "harness.h"
#include "nn.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

/* ------------------------------------------------------------ helpers ---- */

/* A fresh directory per case, removed with everything in it at the end. */
static char dir[256];
static char *paths[64];
static int npaths;

static void dir_make(void) {
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(dir, sizeof dir, "%s/seqgrad_ckpt_XXXXXX", base);
    REQUIRE(mkdtemp(dir) != NULL);
}

static int dir_count(void) { /* entries other than . and .. */
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static void dir_remove(void) {
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
    while (npaths) free(paths[--npaths]);
}

/* "<dir>/<name>", valid until dir_remove(). */
static const char *in_dir(const char *name) {
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(p, "%s/%s", dir, name);
    if (npaths == (int)(sizeof paths / sizeof paths[0])) th_abort_case();
    return paths[npaths++] = p;
}

static uint8_t *read_all(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    *size = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

static void write_all(const char *path, const void *bytes, size_t n) {
    FILE *f = fopen(path, "wb");
    REQUIRE(f);
    REQUIRE(fwrite(bytes, 1, n, f) == n);
    REQUIRE(fclose(f) == 0);
}

static uint64_t le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* n little-endian reals at p hold exactly the values x (bit for bit), on any host. */
static bool same_le_values(const uint8_t *p, const ad_real *x, size_t n) {
    for (size_t i = 0; i < n; i++, p += sizeof(ad_real)) {
        uint64_t bits = 0;
        for (size_t k = 0; k < sizeof(ad_real); k++) bits |= (uint64_t)p[k] << (8 * k);
        ad_real v;
        if (sizeof v == 8) memcpy(&v, &bits, sizeof v);
        else {
            uint32_t b32 = (uint32_t)bits;
            memcpy(&v, &b32, sizeof v);
        }
        if (memcmp(&v, &x[i], sizeof v) != 0) return false;
    }
    return true;
}

static void put_le64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* A small model: an embedding, a recurrent weight of wx_cols columns and its bias, an output
 * layer; values from seed. */
static ad_params *model_new(int wx_cols, uint64_t seed) {
    ad_params *ps = ad_params_new();
    th_param(ps, "embed.E", 7, 3, -1, 1, seed);
    th_param(ps, "rnn.Wx", 3, wx_cols, -1, 1, seed + 1);
    th_param(ps, "rnn.bx", 1, wx_cols, -1, 1, seed + 2);
    th_param(ps, "out.W", 8, 5, -1, 1, seed + 3);
    return ps;
}

static size_t store_bytes(ad_params *ps) { return ad_params_size(ps) * sizeof(ad_real); }

/* Everything a load may change: the store's values, the optimizer's state and steps, counters. */
typedef struct snapshot {
    uint8_t *bytes;
    size_t n;
} snapshot;

static snapshot snap_take(ad_params *ps, const nn_optim *opt, const nn_counters *c) {
    size_t nv = store_bytes(ps), ns = opt ? (size_t)nn_optim_state_count(opt) : 0;
    snapshot s = {malloc(nv * (1 + ns) + sizeof(long) + sizeof *c), 0};
    memcpy(s.bytes, ad_params_values(ps), nv);
    s.n = nv;
    for (size_t i = 0; i < ns; i++, s.n += nv)
        memcpy(s.bytes + s.n, nn_optim_state(opt, (int)i, NULL), nv);
    long steps = opt ? nn_optim_steps(opt) : 0;
    memcpy(s.bytes + s.n, &steps, sizeof steps);
    s.n += sizeof steps;
    if (c) {
        memcpy(s.bytes + s.n, c, sizeof *c);
        s.n += sizeof *c;
    }
    return s;
}

static bool snap_same(snapshot a, snapshot b) {
    return a.n == b.n && memcmp(a.bytes, b.bytes, a.n) == 0;
}

/* The message names the file first. */
static bool message_starts_with(const char *path) {
    size_t n = strlen(path);
    return strncmp(nn_last_error(), path, n) == 0 && nn_last_error()[n] == ':';
}

/* Load expecting status want, a message starting with the path and holding each needle, and
 * memory bit-for-bit unchanged. */
static void expect_load_fails(int line, const char *path, ad_params *ps, nn_optim *opt,
                              nn_counters *c, nn_status want, const char *const *needles) {
    snapshot before = snap_take(ps, opt, c);
    nn_status st = nn_checkpoint_load(path, ps, opt, c);
    snapshot after = snap_take(ps, opt, c);
    if (st != want)
        th_fail(__FILE__, line, "load gave %s, want %s: %s", nn_status_name(st),
                nn_status_name(want), nn_last_error());
    if (!message_starts_with(path))
        th_fail(__FILE__, line, "message does not start with the path: %s", nn_last_error());
    for (const char *const *n = needles; *n; n++)
        if (!strstr(nn_last_error(), *n))
            th_fail(__FILE__, line, "message lacks \"%s\": %s", *n, nn_last_error());
    if (!snap_same(before, after)) th_fail(__FILE__, line, "a failed load changed memory");
    free(before.bytes);
    free(after.bytes);
}
#define EXPECT_LOAD_FAILS(path, ps, opt, c, want, ...)                                             \
    expect_load_fails(__LINE__, (path), (ps), (opt), (c), (want),                                  \
                      (const char *const[]){__VA_ARGS__, NULL})

/* Rewrite a checkpoint's header through edit (the data stays), re-padded to 8 bytes. */
static void rewrite_header(const char *path, void (*edit)(json_t *root)) {
    size_t size = 0;
    uint8_t *b = read_all(path, &size);
    REQUIRE(b);
    uint64_t hlen = le64(b);
    json_t *root = json_loadb((const char *)b + 8, hlen, 0, NULL);
    REQUIRE(root);
    edit(root);
    char *text = json_dumps(root, JSON_COMPACT);
    size_t n = strlen(text), padded = (n + 7) / 8 * 8, data = size - 8 - hlen;
    uint8_t *out = malloc(8 + padded + data);
    put_le64(out, padded);
    memcpy(out + 8, text, n);
    memset(out + 8 + n, ' ', padded - n);
    memcpy(out + 8 + padded, b + 8 + hlen, data);
    write_all(path, out, 8 + padded + data);
    free(out);
    free(text);
    json_decref(root);
    free(b);
}

static json_t *meta_of(json_t *root) { return json_object_get(root, "__metadata__"); }

/* Optimizer over ps with a few steps of made-up gradients behind it. */
static nn_optim *optim_trained(ad_params *ps, nn_optim_kind kind, int steps, uint64_t seed) {
    nn_optim_config cfg = {.kind = kind, .lr = 0.01, .momentum = 0.9};
    nn_optim *o = nn_optim_new(ps, &cfg);
    for (int s = 0; s < steps; s++) {
        th_fill_uniform(ad_params_grads(ps), ad_params_size(ps), -1, 1, seed + (uint64_t)s);
        nn_optim_step(o);
    }
    return o;
}

/* -------------------------------------------------------------- status ---- */

static void *other_thread_fails(void *arg) {
    (void)arg;
    ad_params *ps = ad_params_new();
    nn_checkpoint_load("/nonexistent/other-thread", ps, NULL, NULL);
    ad_params_free(ps);
    return strstr(nn_last_error(), "other-thread") ? (void *)1 : NULL;
}

TEST(status_names_and_per_thread_message) {
    CHECK(strcmp(nn_status_name(NN_OK), "NN_OK") == 0);
    CHECK(strcmp(nn_status_name(NN_ERR_IO), "NN_ERR_IO") == 0);
    CHECK(strcmp(nn_status_name(NN_ERR_FORMAT), "NN_ERR_FORMAT") == 0);
    CHECK(strcmp(nn_status_name(NN_ERR_VERSION), "NN_ERR_VERSION") == 0);
    CHECK(strcmp(nn_status_name(NN_ERR_CHECKSUM), "NN_ERR_CHECKSUM") == 0);
    CHECK(strcmp(nn_status_name(NN_ERR_MISMATCH), "NN_ERR_MISMATCH") == 0);
    CHECK(strcmp(nn_status_name(NN_ERR_MEMORY), "NN_ERR_MEMORY") == 0);

    ad_params *ps = ad_params_new();
    CHECK(nn_checkpoint_load("/nonexistent/this-thread", ps, NULL, NULL) == NN_ERR_IO);
    pthread_t th;
    void *other_saw_its_own = NULL;
    REQUIRE(pthread_create(&th, NULL, other_thread_fails, NULL) == 0);
    pthread_join(th, &other_saw_its_own);
    CHECK(other_saw_its_own != NULL);
    CHECK_MSG(strstr(nn_last_error(), "this-thread"), "message: %s", nn_last_error());
    ad_params_free(ps);
}

/* ---------------------------------------------------------- round trip ---- */

TEST(round_trip_is_bit_exact) {
    dir_make();
    const char *path = in_dir("model.safetensors");
    ad_params *a = model_new(8, 10), *b = model_new(8, 99);
    /* Values a text format would lose: signed zero, a subnormal, infinities, a NaN payload. */
    ad_real *E = ad_data(ad_params_find(a, "embed.E"));
    E[0] = -0.0;
    E[1] = (ad_real)4.9e-324;
    E[2] = (ad_real)INFINITY;
    E[3] = -(ad_real)INFINITY;
    uint64_t nan_bits = 0x7ff80000deadbeefull;
    if (sizeof(ad_real) == 8) memcpy(&E[4], &nan_bits, 8);
    E[5] = (ad_real)1.0000000000000002;

    nn_counters saved = {3, {"step", "epoch", "rng"}, {123456789, 4, UINT64_MAX}};
    REQUIRE(nn_checkpoint_save(path, a, NULL, &saved) == NN_OK);
    CHECK(dir_count() == 1); /* no temporary left */

    nn_counters got = {2, {"rng", "step"}, {0, 0}};
    REQUIRE(nn_checkpoint_load(path, b, NULL, &got) == NN_OK);
    CHECK(memcmp(ad_params_values(a), ad_params_values(b), store_bytes(a)) == 0);
    CHECK(got.value[0] == UINT64_MAX);
    CHECK(got.value[1] == 123456789);

    /* Saving again replaces the file, still without leftovers. */
    ad_data(ad_params_find(a, "out.W"))[7] = 42;
    REQUIRE(nn_checkpoint_save(path, a, NULL, NULL) == NN_OK);
    CHECK(dir_count() == 1);
    REQUIRE(nn_checkpoint_load(path, b, NULL, NULL) == NN_OK);
    CHECK(ad_data(ad_params_find(b, "out.W"))[7] == 42);
    CHECK(memcmp(ad_params_values(a), ad_params_values(b), store_bytes(a)) == 0);
    ad_params_free(a);
    ad_params_free(b);
    dir_remove();
}

TEST(round_trip_optimizer_state_and_resume) {
    dir_make();
    const char *path = in_dir("ckpt");
    static const nn_optim_kind kinds[] = {NN_SGD, NN_MOMENTUM, NN_ADAGRAD, NN_RMSPROP, NN_ADAM};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        ad_params *a = model_new(8, 1), *b = model_new(8, 50);
        nn_optim *oa = optim_trained(a, kinds[k], 3, 7);
        nn_optim *ob = optim_trained(b, kinds[k], 1, 70); /* other state, other step count */
        REQUIRE(nn_checkpoint_save(path, a, oa, NULL) == NN_OK);
        REQUIRE(nn_checkpoint_load(path, b, ob, NULL) == NN_OK);
        CHECK(memcmp(ad_params_values(a), ad_params_values(b), store_bytes(a)) == 0);
        CHECK(nn_optim_steps(ob) == 3);
        for (int s = 0; s < nn_optim_state_count(oa); s++)
            CHECK_MSG(memcmp(nn_optim_state(oa, s, NULL), nn_optim_state(ob, s, NULL),
                             store_bytes(a)) == 0, "kind %d state %d differs", kinds[k], s);
        /* The next steps from the same gradients agree to the bit (Adam's bias correction
         * depends on the restored step count). */
        for (int s = 0; s < 2; s++) {
            th_fill_uniform(ad_params_grads(a), ad_params_size(a), -1, 1, 500 + (uint64_t)s);
            th_fill_uniform(ad_params_grads(b), ad_params_size(b), -1, 1, 500 + (uint64_t)s);
            nn_optim_step(oa);
            nn_optim_step(ob);
        }
        CHECK_MSG(memcmp(ad_params_values(a), ad_params_values(b), store_bytes(a)) == 0,
                  "kind %d: steps after the resume differ", kinds[k]);
        nn_optim_free(oa);
        nn_optim_free(ob);
        ad_params_free(a);
        ad_params_free(b);
    }
    /* Weights only: a training checkpoint loads into a model without an optimizer. */
    ad_params *a = model_new(8, 1), *c = model_new(8, 2);
    nn_optim *oa = optim_trained(a, NN_ADAM, 2, 3);
    REQUIRE(nn_checkpoint_save(path, a, oa, NULL) == NN_OK);
    CHECK(nn_checkpoint_load(path, c, NULL, NULL) == NN_OK);
    CHECK(memcmp(ad_params_values(a), ad_params_values(c), store_bytes(a)) == 0);
    nn_optim_free(oa);
    ad_params_free(a);
    ad_params_free(c);
    dir_remove();
}

/* ------------------------------------------------- the file's layout ---- */

/* Parse the file as any safetensors reader would and compare with the model. */
TEST(file_is_safetensors) {
    dir_make();
    const char *path = in_dir("ckpt.safetensors");
    ad_params *ps = model_new(8, 3);
    nn_optim *opt = optim_trained(ps, NN_ADAM, 3, 11);
    nn_counters cnt = {1, {"epoch"}, {17}};
    REQUIRE(nn_checkpoint_save(path, ps, opt, &cnt) == NN_OK);

    size_t size = 0;
    uint8_t *b = read_all(path, &size);
    REQUIRE(b && size > 8);
    uint64_t hlen = le64(b);
    REQUIRE(hlen <= size - 8);
    CHECK(hlen % 8 == 0);
    CHECK(b[8] == '{');
    json_error_t err;
    json_t *root = json_loadb((const char *)b + 8, hlen, JSON_REJECT_DUPLICATES, &err);
    REQUIRE(root);
    const uint8_t *data = b + 8 + hlen;
    size_t data_size = size - 8 - hlen;

    json_t *meta = meta_of(root);
    REQUIRE(json_is_object(meta));
    const char *k;
    json_t *v;
    json_object_foreach(meta, k, v) CHECK_MSG(json_is_string(v), "metadata %s not a string", k);
    CHECK(strcmp(json_string_value(json_object_get(meta, "format")), "seqgrad") == 0);
    CHECK(strcmp(json_string_value(json_object_get(meta, "version")), "1") == 0);
    CHECK(strcmp(json_string_value(json_object_get(meta, "optimizer")), "adam") == 0);
    CHECK(strcmp(json_string_value(json_object_get(meta, "optimizer_steps")), "3") == 0);
    CHECK(strcmp(json_string_value(json_object_get(meta, "counter.epoch")), "17") == 0);
    char crc[16];
    snprintf(crc, sizeof crc, "%08lx", (unsigned long)crc32(0, data, (uInt)data_size));
    CHECK(strcmp(json_string_value(json_object_get(meta, "crc32")), crc) == 0);

    /* Parameters in creation order, then each state array; back to back from offset 0. */
    const char *dtype = sizeof(ad_real) == 8 ? "F64" : "F32";
    int np = ad_params_count(ps), ns = nn_optim_state_count(opt), seen = 0;
    uint64_t at = 0;
    for (int s = -1; s < ns; s++) {
        const char *sname = NULL;
        const ad_real *base = s < 0 ? ad_params_values(ps) : nn_optim_state(opt, s, &sname);
        for (int i = 0; i < np; i++) {
            ad_tensor *p = ad_params_at(ps, i);
            char name[128];
            if (s < 0) snprintf(name, sizeof name, "%s", ad_name(p));
            else snprintf(name, sizeof name, "optim.%s.%s", sname, ad_name(p));
            json_t *e = json_object_get(root, name);
            REQUIRE(json_is_object(e));
            seen++;
            CHECK(strcmp(json_string_value(json_object_get(e, "dtype")), dtype) == 0);
            json_t *shape = json_object_get(e, "shape"), *offs = json_object_get(e, "data_offsets");
            CHECK(json_array_size(shape) == 2);
            CHECK(json_integer_value(json_array_get(shape, 0)) == ad_rows(p));
            CHECK(json_integer_value(json_array_get(shape, 1)) == ad_cols(p));
            size_t n = (size_t)ad_rows(p) * (size_t)ad_cols(p);
            CHECK((uint64_t)json_integer_value(json_array_get(offs, 0)) == at);
            size_t bytes = n * sizeof(ad_real);
            CHECK((uint64_t)json_integer_value(json_array_get(offs, 1)) == at + bytes);
            REQUIRE(at + bytes <= data_size);
            CHECK_MSG(same_le_values(data + at, base + ad_param_offset(p), n), "%s", name);
            at += bytes;
        }
    }
    CHECK(at == data_size);
    CHECK((size_t)seen + 1 == json_object_size(root));
    th_note("%zu bytes: header %llu, data %zu, %d tensors", size, (unsigned long long)hlen,
            data_size, seen);
    json_decref(root);
    free(b);
    nn_optim_free(opt);
    ad_params_free(ps);
    dir_remove();
}

/* A safetensors file written by someone else: tensors in another order, an unpadded header,
 * extra metadata. It loads; and the same file in F32 is refused as another dtype. */
static void write_foreign(const char *path, ad_params *ps, bool as_f32) {
    const char *order[] = {"out.W", "rnn.bx", "embed.E", "rnn.Wx"};
    uint8_t data[4096];
    size_t at = 0;
    json_t *root = json_object();
    for (int i = 0; i < 4; i++) {
        ad_tensor *p = ad_params_find(ps, order[i]);
        size_t n = (size_t)ad_rows(p) * (size_t)ad_cols(p), dsize = as_f32 ? 4 : 8;
        for (size_t j = 0; j < n; j++) {
            if (as_f32) {
                float x = (float)ad_data(p)[j];
                memcpy(data + at + 4 * j, &x, 4);
            } else {
                double x = (double)ad_data(p)[j];
                memcpy(data + at + 8 * j, &x, 8);
            }
        }
        json_object_set_new(root, order[i],
                            json_pack("{s:s, s:[ii], s:[II]}", "dtype", as_f32 ? "F32" : "F64",
                                      "shape", ad_rows(p), ad_cols(p), "data_offsets",
                                      (json_int_t)at, (json_int_t)(at + n * dsize)));
        at += n * dsize;
    }
    char crc[16];
    snprintf(crc, sizeof crc, "%08lX", (unsigned long)crc32(0, data, (uInt)at)); /* upper case */
    json_object_set_new(root, "__metadata__",
                        json_pack("{s:s, s:s, s:s, s:s}", "crc32", crc, "version", "1", "format",
                                  "seqgrad", "written_by", "a test"));
    char *text = json_dumps(root, 0);
    size_t n = strlen(text);
    uint8_t *out = malloc(8 + n + at);
    put_le64(out, n);
    memcpy(out + 8, text, n);
    memcpy(out + 8 + n, data, at);
    write_all(path, out, 8 + n + at);
    free(out);
    free(text);
    json_decref(root);
}

TEST(loads_safetensors_written_elsewhere) {
    dir_make();
    const char *path = in_dir("foreign.safetensors");
    ad_params *src = model_new(8, 5), *dst = model_new(8, 6);
    write_foreign(path, src, false);
    REQUIRE(sizeof(ad_real) == 8);
    CHECK_MSG(nn_checkpoint_load(path, dst, NULL, NULL) == NN_OK, "%s", nn_last_error());
    CHECK(memcmp(ad_params_values(src), ad_params_values(dst), store_bytes(src)) == 0);

    write_foreign(path, src, true);
    ad_params *other = model_new(8, 7);
    EXPECT_LOAD_FAILS(path, other, NULL, NULL, NN_ERR_MISMATCH, "F32", "F64", "[7, 3]");
    ad_params_free(src);
    ad_params_free(dst);
    ad_params_free(other);
    dir_remove();
}

/* ------------------------------------------------------------ bad files ---- */

/* A good checkpoint of model_new(8, 1) with an Adam state and a counter, at path; the model
 * loading it has other values, so any write would show. */
typedef struct victim {
    ad_params *ps;
    nn_optim *opt;
    nn_counters cnt;
} victim;

static victim victim_new(const char *path) {
    ad_params *src = model_new(8, 1);
    nn_optim *so = optim_trained(src, NN_ADAM, 4, 1);
    nn_counters c = {1, {"step"}, {9}};
    if (nn_checkpoint_save(path, src, so, &c) != NN_OK) th_fail(__FILE__, __LINE__, "save");
    nn_optim_free(so);
    ad_params_free(src);
    victim v = {model_new(8, 2), NULL, {1, {"step"}, {77}}};
    v.opt = optim_trained(v.ps, NN_ADAM, 2, 2);
    return v;
}

static void victim_free(victim *v) {
    nn_optim_free(v->opt);
    ad_params_free(v->ps);
}

TEST(missing_file_is_io_error) {
    dir_make();
    victim v = victim_new(in_dir("good"));
    EXPECT_LOAD_FAILS(in_dir("absent"), v.ps, v.opt, &v.cnt, NN_ERR_IO, "No such file");
    victim_free(&v);
    dir_remove();
}

TEST(truncated_file_is_format_error) {
    dir_make();
    const char *good = in_dir("good"), *cut = in_dir("cut");
    victim v = victim_new(good);
    size_t size = 0;
    uint8_t *b = read_all(good, &size);
    REQUIRE(b);
    size_t h = 8 + (size_t)le64(b); /* where the data starts */
    const size_t at[] = {0, 1, 7, 8, 9, 8 + (h - 8) / 2, h - 1, h, h + 1, h + 100, size - 9,
                         size - 1};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        write_all(cut, b, at[i]);
        EXPECT_LOAD_FAILS(cut, v.ps, v.opt, &v.cnt, NN_ERR_FORMAT, "");
        if (at[i] < 8) CHECK(strstr(nn_last_error(), "too short"));
        else if (at[i] < h) CHECK(strstr(nn_last_error(), "header length"));
        else CHECK_MSG(strstr(nn_last_error(), "truncated"), "%s", nn_last_error());
    }
    /* A header length far past the end. */
    put_le64(b, UINT64_MAX - 3);
    write_all(cut, b, size);
    EXPECT_LOAD_FAILS(cut, v.ps, v.opt, &v.cnt, NN_ERR_FORMAT, "header length");
    /* Bytes after the last tensor: not a valid safetensors file either. */
    put_le64(b, h - 8);
    uint8_t *longer = calloc(size + 8, 1);
    memcpy(longer, b, size);
    write_all(cut, longer, size + 8);
    EXPECT_LOAD_FAILS(cut, v.ps, v.opt, &v.cnt, NN_ERR_FORMAT, "cover");
    free(longer);
    free(b);
    /* The good file still loads (the checks above were not too strict). */
    CHECK_MSG(nn_checkpoint_load(good, v.ps, v.opt, &v.cnt) == NN_OK, "%s", nn_last_error());
    CHECK(v.cnt.value[0] == 9 && nn_optim_steps(v.opt) == 4);
    victim_free(&v);
    dir_remove();
}

TEST(invalid_json_is_format_error_with_parser_text) {
    dir_make();
    const char *path = in_dir("bad");
    victim v = victim_new(path);
    const char header[] = "{\"__metadata__\": {\"format\": \"seqgrad\",, }     ";
    uint8_t b[8 + sizeof header];
    put_le64(b, sizeof header - 1);
    memcpy(b + 8, header, sizeof header - 1);
    write_all(path, b, 8 + sizeof header - 1);
    json_error_t err;
    REQUIRE(json_loadb(header, sizeof header - 1, 0, &err) == NULL);
    EXPECT_LOAD_FAILS(path, v.ps, v.opt, &v.cnt, NN_ERR_FORMAT, "JSON", err.text);
    /* JSON, but not an object. */
    put_le64(b, 8);
    memcpy(b + 8, "[1, 2]  ", 8);
    write_all(path, b, 16);
    EXPECT_LOAD_FAILS(path, v.ps, v.opt, &v.cnt, NN_ERR_FORMAT, "not a JSON object");
    victim_free(&v);
    dir_remove();
}

static void drop_metadata(json_t *r) { json_object_del(r, "__metadata__"); }
static void drop_crc(json_t *r) { json_object_del(meta_of(r), "crc32"); }
static void drop_offsets(json_t *r) {
    json_object_del(json_object_get(r, "rnn.Wx"), "data_offsets");
}
static void drop_dtype(json_t *r) { json_object_del(json_object_get(r, "out.W"), "dtype"); }
static void bad_dtype(json_t *r) {
    json_object_set_new(json_object_get(r, "out.W"), "dtype", json_string("Q7"));
}
static void other_format(json_t *r) {
    json_object_set_new(meta_of(r), "format", json_string("gguf"));
}
static void version_2(json_t *r) { json_object_set_new(meta_of(r), "version", json_string("2")); }
static void number_meta(json_t *r) { json_object_set_new(meta_of(r), "version", json_integer(1)); }
static void shift_offsets(json_t *r) { /* overlap: out.W starts 8 bytes early */
    json_t *o = json_object_get(json_object_get(r, "out.W"), "data_offsets");
    json_array_set_new(o, 0, json_integer(json_integer_value(json_array_get(o, 0)) - 8));
    json_array_set_new(o, 1, json_integer(json_integer_value(json_array_get(o, 1)) - 8));
}
static void bad_counter(json_t *r) {
    json_object_set_new(meta_of(r), "counter.step", json_string("12x"));
}
static void bad_steps(json_t *r) {
    json_object_set_new(meta_of(r), "optimizer_steps", json_string("-3"));
}

TEST(malformed_header_is_format_error) {
    dir_make();
    const char *good = in_dir("good"), *path = in_dir("edited");
    victim v = victim_new(good);
    size_t size = 0;
    uint8_t *b = read_all(good, &size);
    REQUIRE(b);
    const struct {
        void (*edit)(json_t *);
        const char *needle;
    } cases[] = {
        {drop_metadata, "__metadata__"}, {drop_crc, "crc32"},       {drop_offsets, "rnn.Wx"},
        {drop_dtype, "out.W"},           {bad_dtype, "Q7"},         {other_format, "gguf"},
        {number_meta, "not a string"},   {shift_offsets, "out.W"},  {bad_counter, "12x"},
        {bad_steps, "-3"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_all(path, b, size);
        rewrite_header(path, cases[i].edit);
        EXPECT_LOAD_FAILS(path, v.ps, v.opt, &v.cnt, NN_ERR_FORMAT, cases[i].needle);
    }
    free(b);
    victim_free(&v);
    dir_remove();
}

TEST(other_version_is_version_error) {
    dir_make();
    const char *path = in_dir("v2");
    victim v = victim_new(path);
    rewrite_header(path, version_2);
    EXPECT_LOAD_FAILS(path, v.ps, v.opt, &v.cnt, NN_ERR_VERSION, "version 2", "version 1");
    victim_free(&v);
    dir_remove();
}

TEST(flipped_data_byte_is_checksum_error) {
    dir_make();
    const char *good = in_dir("good"), *path = in_dir("flipped");
    victim v = victim_new(good);
    size_t size = 0;
    uint8_t *b = read_all(good, &size);
    REQUIRE(b);
    size_t h = 8 + (size_t)le64(b);
    /* A parameter's byte, an optimizer state's byte, the last byte; one bit each. */
    const size_t at[] = {h, h + 100, (h + size) / 2 + 3, size - 1};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        b[at[i]] ^= 0x10;
        write_all(path, b, size);
        b[at[i]] ^= 0x10;
        EXPECT_LOAD_FAILS(path, v.ps, v.opt, &v.cnt, NN_ERR_CHECKSUM, "CRC-32");
    }
    free(b);
    victim_free(&v);
    dir_remove();
}

TEST(another_model_is_mismatch) {
    dir_make();
    const char *path = in_dir("good");
    victim v = victim_new(path);

    /* Another width: both shapes named. */
    ad_params *wide = model_new(9, 3);
    EXPECT_LOAD_FAILS(path, wide, NULL, NULL, NN_ERR_MISMATCH, "\"rnn.Wx\"", "[3, 8]", "[3, 9]");
    ad_params_free(wide);

    /* A parameter the file lacks. */
    ad_params *more = model_new(8, 3);
    th_param(more, "extra.W", 2, 2, -1, 1, 4);
    EXPECT_LOAD_FAILS(path, more, NULL, NULL, NN_ERR_MISMATCH, "\"extra.W\"", "[2, 2]",
                      "not in the file");
    ad_params_free(more);

    /* A tensor of the file the model lacks. */
    ad_params *fewer = ad_params_new();
    th_param(fewer, "embed.E", 7, 3, -1, 1, 4);
    EXPECT_LOAD_FAILS(path, fewer, NULL, NULL, NN_ERR_MISMATCH, "\"rnn.Wx\"", "not in the model");
    ad_params_free(fewer);

    /* Another optimizer; an optimizer the file has no state for. */
    ad_params *ps = model_new(8, 3);
    nn_optim *mom = optim_trained(ps, NN_MOMENTUM, 1, 5);
    EXPECT_LOAD_FAILS(path, ps, mom, NULL, NN_ERR_MISMATCH, "adam", "momentum");
    REQUIRE(nn_checkpoint_save(in_dir("no_optim"), ps, NULL, NULL) == NN_OK);
    EXPECT_LOAD_FAILS(in_dir("no_optim"), v.ps, v.opt, NULL, NN_ERR_MISMATCH, "no optimizer");
    nn_optim_free(mom);
    ad_params_free(ps);

    /* A counter the file lacks. */
    nn_counters want = {2, {"step", "epoch"}, {1, 2}};
    EXPECT_LOAD_FAILS(path, v.ps, v.opt, &want, NN_ERR_MISMATCH, "\"epoch\"");
    victim_free(&v);
    dir_remove();
}

/* ---------------------------------------------------------- saving ---- */

TEST(save_into_missing_directory_is_io_error) {
    dir_make();
    const char *path = in_dir("no/such/dir/ckpt");
    ad_params *ps = model_new(8, 1);
    CHECK(nn_checkpoint_save(path, ps, NULL, NULL) == NN_ERR_IO);
    CHECK_MSG(message_starts_with(path), "%s", nn_last_error());
    CHECK_MSG(strstr(nn_last_error(), strerror(ENOENT)), "%s", nn_last_error());
    CHECK(dir_count() == 0);
    ad_params_free(ps);
    dir_remove();
}

/* A disk that fills up mid-write: the child may write only a few kilobytes (RLIMIT_FSIZE, with
 * SIGXFSZ ignored so write() fails with EFBIG). The save must fail, and the old checkpoint it
 * was replacing must be intact. /dev/full would not do: the temporary is a real file. */
TEST(full_disk_keeps_the_old_checkpoint) {
    dir_make();
    const char *path = in_dir("ckpt");
    ad_params *ps = ad_params_new();
    th_param(ps, "big", 64, 64, -1, 1, 1); /* 32 KB in double */
    nn_optim *opt = optim_trained(ps, NN_ADAM, 1, 3);
    REQUIRE(nn_checkpoint_save(path, ps, opt, NULL) == NN_OK);
    snapshot good = snap_take(ps, opt, NULL);

    fflush(stdout);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        /* The child: new values, a 4 KB limit, and a save that cannot fit. Exit codes tell the
         * parent what went wrong. */
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit lim = {4096, 4096};
        if (setrlimit(RLIMIT_FSIZE, &lim) != 0) _exit(10);
        th_fill_uniform(ad_params_values(ps), ad_params_size(ps), -1, 1, 999);
        nn_status st = nn_checkpoint_save(path, ps, opt, NULL);
        if (st != NN_ERR_IO) _exit(11);
        if (!message_starts_with(path)) _exit(12);
        if (!strstr(nn_last_error(), strerror(EFBIG))) _exit(13);
        _exit(0);
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: %s %d",
              WIFEXITED(status) ? "exit" : "signal",
              WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    CHECK(dir_count() == 1); /* the temporary was removed */

    /* The old file loads and holds the old values and state. */
    ad_params *back = ad_params_new();
    ad_param(back, "big", 64, 64);
    nn_optim_config cfg = {.kind = NN_ADAM, .lr = 0.01};
    nn_optim *bo = nn_optim_new(back, &cfg);
    CHECK_MSG(nn_checkpoint_load(path, back, bo, NULL) == NN_OK, "%s", nn_last_error());
    snapshot loaded = snap_take(back, bo, NULL);
    CHECK(snap_same(good, loaded));
    free(good.bytes);
    free(loaded.bytes);
    nn_optim_free(bo);
    ad_params_free(back);
    nn_optim_free(opt);
    ad_params_free(ps);
    dir_remove();
}

/* Names a safetensors header cannot hold are refused before anything is written. */
TEST(unstorable_names_are_refused) {
    dir_make();
    const char *path = in_dir("ckpt");
    ad_params *clash = ad_params_new(), *bytes = ad_params_new();
    th_param(clash, "__metadata__", 2, 2, -1, 1, 1);
    th_param(bytes, "emb\xff", 2, 2, -1, 1, 1); /* not UTF-8 */
    CHECK(nn_checkpoint_save(path, clash, NULL, NULL) == NN_ERR_FORMAT);
    CHECK_MSG(message_starts_with(path) && strstr(nn_last_error(), "__metadata__"), "%s",
              nn_last_error());
    CHECK(nn_checkpoint_save(path, bytes, NULL, NULL) == NN_ERR_FORMAT);
    CHECK_MSG(message_starts_with(path) && strstr(nn_last_error(), "UTF-8"), "%s",
              nn_last_error());
    CHECK(dir_count() == 0);
    ad_params_free(clash);
    ad_params_free(bytes);
    dir_remove();
}

/* The counters alone, before any model exists: the values saved, a missing name, a bad file. */
TEST(counters_read_without_a_model) {
    char dir[] = "/tmp/seqgrad-ckc-XXXXXX";
    REQUIRE(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/c.safetensors", dir);
    ad_params *ps = ad_params_new();
    th_param(ps, "w", 2, 3, -1, 1, 4);
    nn_counters saved = {.n = 2, .name = {"layers", "hidden"}, .value = {2, 512}};
    REQUIRE(nn_checkpoint_save(path, ps, NULL, &saved) == NN_OK);
    nn_counters got = {.n = 2, .name = {"hidden", "layers"}};
    CHECK(nn_checkpoint_counters(path, &got) == NN_OK);
    CHECK(got.value[0] == 512 && got.value[1] == 2);
    nn_counters missing = {.n = 1, .name = {"epoch"}};
    CHECK(nn_checkpoint_counters(path, &missing) == NN_ERR_MISMATCH);
    CHECK_MSG(strstr(nn_last_error(), "epoch") != NULL, "%s", nn_last_error());
    FILE *fp = fopen(path, "r+b"); /* a header length past the end */
    REQUIRE(fp);
    fputc(0xff, fp);
    fputc(0xff, fp);
    fclose(fp);
    CHECK(nn_checkpoint_counters(path, &got) == NN_ERR_FORMAT);
    CHECK_MSG(strncmp(nn_last_error(), path, strlen(path)) == 0, "%s", nn_last_error());
    remove(path);
    rmdir(dir);
    ad_params_free(ps);
}
