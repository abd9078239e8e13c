/*
 * Tests of models/tagger.c: the BiLSTM tagger's gradients by central differences on tiny
 * configurations with sentences of unequal lengths (FORMULAS §8), padding invariance, a tiny
 * training set learnt by heart, and the non-tape parts: base tags, word shapes and suffixes, the
 * lexicon and its file, the most-frequent-tag baseline.
 */
#include "harness.h"
#include "tagger.h"

#include <unistd.h>

/* ------------------------------------------------------------- tag sets ---- */

TEST(base_tags_strip_brown_decorations) {
    static const char *const cases[][2] = {
        {"nn-tl", "nn"},
        {"NN-TL-HL", "nn"},
        {"fw-in", "in"},
        {"fw-at-hl", "at"},
        {"bez*", "bez"},
        {"md*-hl", "md"},
        {"do*", "do"},
        {"*", "*"},
        {"--", "--"},
        {".", "."},
        {"np$", "np$"},
        {"ppss+bem", "ppss+bem"},
        {"fw-in+at", "in+at"},
        {"np+hvz-nc", "np+hvz"},
        {"nn-nc", "nn"},
        {"jj-hl", "jj"},
        {"'", "'"},
        {"pp$$", "pp$$"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char out[64];
        tagger_base_tag(cases[k][0], out, sizeof out);
        CHECK_MSG(strcmp(out, cases[k][1]) == 0, "%s -> '%s', want '%s'", cases[k][0], out,
                  cases[k][1]);
    }
}

/* ------------------------------------------------------- word features ---- */

TEST(shapes_and_suffixes) {
    /* case (0 lower, 1 capitalised, 2 capitalised first, 3 capitals, 4 mixed, 5 none) x digit x
     * hyphen: (kind·2 + digit)·2 + hyphen */
    CHECK(tagger_shape("dog", false) == 0);
    CHECK(tagger_shape("dog", true) == 0);
    CHECK(tagger_shape("Boston", false) == 4);
    CHECK(tagger_shape("Boston", true) == 8);
    CHECK(tagger_shape("USA", false) == 12);
    CHECK(tagger_shape("McDonald", false) == 16);
    CHECK(tagger_shape("1961", false) == 22);
    CHECK(tagger_shape("well-known", false) == 1);
    CHECK(tagger_shape("B-52", false) == 15);
    CHECK(tagger_shape(",", true) == 20);
    for (const char *w = "aAzZ09-,.x"; *w; w++) {
        char s[2] = {*w, 0};
        int k = tagger_shape(s, false);
        CHECK(k >= 0 && k < TAGGER_NSHAPES);
    }
    char sfx[8];
    tagger_suffix("Running", 3, sfx, sizeof sfx);
    CHECK(strcmp(sfx, "ing") == 0);
    tagger_suffix("a", 2, sfx, sizeof sfx);
    CHECK(strcmp(sfx, "^a") == 0);
    tagger_suffix("IT", 4, sfx, sizeof sfx);
    CHECK(strcmp(sfx, "^^it") == 0);
    EXPECT_ERROR(tagger_suffix("word", 4, sfx, 4), "tagger_suffix");
}

/* ------------------------------------------------------------ tiny data ---- */

/* Sentences of "word/TAG" tokens, the form of the cache's brown.tagged. */
static const char *const tiny[] = {
    "The/at dog/nn runs/vbz ./.",
    "A/at cat/nn sleeps/vbz on/in the/at mat/nn ./.",
    "Dogs/nns run/vb ./.",
    "The/at old/jj dog/nn saw/vbd the/at cat/nn in/in Boston/np ./.",
    "Cats/nns saw/vbd dogs/nns ./.",
};
enum { NTINY = sizeof tiny / sizeof tiny[0], MAXLEN = 16 };

typedef struct tiny_set {
    tagger_lexicon lx;
    int n, lengths[NTINY];
    int feats[NTINY][MAXLEN * TAGGER_NFEAT], tags[NTINY][MAXLEN];
    char words[NTINY][MAXLEN][32];
} tiny_set;

/* Build a lexicon from the tiny sentences (min count 1) and featurize them. */
static void tiny_load(tiny_set *s, long min_words) {
    memset(s, 0, sizeof *s);
    tagger_lexicon_init(&s->lx);
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < NTINY; i++) {
            char buf[256];
            snprintf(buf, sizeof buf, "%s", tiny[i]);
            int t = 0;
            char *save = NULL;
            for (char *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
                char *slash = strrchr(tok, '/');
                *slash = 0;
                if (pass == 0) {
                    tagger_lexicon_count(&s->lx, tok);
                    text_vocab_add(s->lx.tags, slash + 1, 1);
                } else {
                    tagger_featurize(&s->lx, tok, t == 0, &s->feats[i][t * TAGGER_NFEAT]);
                    s->tags[i][t] = text_vocab_id(s->lx.tags, slash + 1);
                    snprintf(s->words[i][t], sizeof s->words[i][t], "%s", tok);
                }
                t++;
            }
            s->lengths[i] = t;
            if (pass == 0 && i == NTINY - 1) tagger_lexicon_prune(&s->lx, min_words, 1);
        }
    s->n = NTINY;
}

static void tiny_batch(const tiny_set *s, tagger_batch *bt, int first, int B) {
    const int *feats[NTINY], *tags[NTINY];
    for (int b = 0; b < B; b++)
        feats[b] = s->feats[first + b], tags[b] = s->tags[first + b];
    tagger_batch_set(bt, B, s->lengths + first, feats, tags);
}

TEST(lexicon_counts_prunes_and_featurizes) {
    tiny_set s;
    tiny_load(&s, 2);
    /* words seen twice or more, lowercased: the dog cat ./. saw dogs in ... "runs" once -> unk */
    CHECK(text_vocab_find(s.lx.words, "the") > 0);
    CHECK(text_vocab_find(s.lx.words, "The") < 0);
    CHECK(text_vocab_find(s.lx.words, "dogs") > 0); /* "Dogs" and "dogs" */
    CHECK(text_vocab_find(s.lx.words, "mat") < 0);
    int f[TAGGER_NFEAT];
    tagger_featurize(&s.lx, "Mat", false, f);
    CHECK(f[0] == TEXT_UNK);
    CHECK(f[3] == text_vocab_find(s.lx.suffixes, "mat"));
    CHECK(f[4] == text_vocab_find(s.lx.suffixes, "^mat"));
    CHECK(f[5] == tagger_shape("Mat", false));
    tagger_featurize(&s.lx, "zzzzq", false, f);
    CHECK(f[0] == TEXT_UNK && f[1] == TEXT_UNK && f[2] == TEXT_UNK);
    CHECK(text_vocab_size(s.lx.tags) == 11); /* <unk>, at nn vbz . in nns vb jj vbd np */
    tagger_lexicon_free(&s.lx);
}

/* --------------------------------------------------------- gradients ---- */

typedef struct grad_ctx {
    tagger m;
    tagger_batch *bt;
} grad_ctx;

static ad_tensor *tagger_loss_fn(ad_tape *tp, void *ctx) {
    grad_ctx *g = ctx;
    return tagger_loss(tp, &g->m, g->bt);
}

/* A tiny tagger on three sentences of lengths 4, 2, 3 (ids drawn at random), all parameters
 * spread over [-0.5, 0.5] so no gradient is negligible. */
static void gradcheck_config(bool char_features, int layers) {
    tagger_config cfg = {.words = 6,
                         .suffixes = 7,
                         .tags = 4,
                         .word_dim = 3,
                         .suffix_dim = 2,
                         .shape_dim = 2,
                         .hidden = 3,
                         .layers = layers,
                         .char_features = char_features,
                         .dropout = 0};
    nn_rng r = nn_rng_new(7);
    ad_params *ps = ad_params_new();
    grad_ctx g;
    tagger_init(&g.m, ps, &cfg, &r);
    th_fill_uniform(ad_params_values(ps), ad_params_size(ps), -0.5, 0.5, 11);
    const int lengths[3] = {4, 2, 3};
    int feats[3][4 * TAGGER_NFEAT], tags[3][4];
    for (int b = 0; b < 3; b++)
        for (int t = 0; t < 4; t++) {
            for (int k = 0; k < TAGGER_NFEAT; k++) {
                int range = k == 0                 ? cfg.words
                            : k < TAGGER_NFEAT - 1 ? cfg.suffixes
                                                   : TAGGER_NSHAPES;
                feats[b][t * TAGGER_NFEAT + k] = (int)nn_rng_below(&r, (uint32_t)range);
            }
            tags[b][t] = (int)nn_rng_below(&r, (uint32_t)cfg.tags);
        }
    const int *fp[3] = {feats[0], feats[1], feats[2]}, *tp3[3] = {tags[0], tags[1], tags[2]};
    g.bt = tagger_batch_new(12, 3);
    REQUIRE(g.bt);
    tagger_batch_set(g.bt, 3, lengths, fp, tp3);
    CHECK(g.bt->T == 4);
    CHECK(g.bt->mask[3 * 3 + 1] == 0 && g.bt->mask[3 * 3 + 0] == 1); /* sentence 1 ends at 2 */
    ad_gradcheck_result res = CHECK_GRADCHECK(ps, tagger_loss_fn, &g, &th_tight);
    th_note("char features %d, %d layer(s): %d coordinates, max rel err %.2e", char_features,
            layers, res.checked, res.max_rel_err);
    CHECK(res.checked > 100);
    tagger_batch_free(g.bt);
    ad_params_free(ps);
}

TEST(gradients_with_char_features_unequal_lengths) {
    gradcheck_config(true, 1);
}
TEST(gradients_words_only) {
    gradcheck_config(false, 1);
}
TEST(gradients_two_layers) {
    gradcheck_config(true, 2);
}

/* A sentence's logits are the same alone and padded beside a longer one. */
TEST(padding_changes_nothing) {
    tiny_set s;
    tiny_load(&s, 1);
    tagger_config cfg = tagger_config_default();
    cfg.words = text_vocab_size(s.lx.words);
    cfg.suffixes = text_vocab_size(s.lx.suffixes);
    cfg.tags = text_vocab_size(s.lx.tags);
    cfg.word_dim = 5, cfg.suffix_dim = 3, cfg.shape_dim = 2, cfg.hidden = 4;
    nn_rng r = nn_rng_new(3);
    ad_params *ps = ad_params_new();
    tagger m;
    tagger_init(&m, ps, &cfg, &r);
    ad_tape *tp = ad_tape_new();
    ad_tape_set_training(tp, false);
    tagger_batch *bt = tagger_batch_new(64, 4);
    tiny_batch(&s, bt, 2, 1); /* "Dogs run ." alone, 3 tokens */
    ad_tensor *alone = tagger_logits(tp, &m, bt);
    double a[3 * 16];
    const int K = cfg.tags;
    for (int i = 0; i < 3 * K; i++)
        a[i] = ad_data(alone)[i];
    tiny_batch(&s, bt, 2, 2); /* beside the 9-token sentence 3 */
    REQUIRE(bt->T == 9 && bt->B == 2);
    ad_tensor *padded = tagger_logits(tp, &m, bt);
    double p[3 * 16];
    for (int t = 0; t < 3; t++)
        for (int k = 0; k < K; k++)
            p[t * K + k] = ad_data(padded)[(t * 2 + 0) * K + k];
    CHECK_ARRAY("logits of the padded sentence", p, a, (size_t)(3 * K), 1e-12, 1e-14);
    tagger_batch_free(bt);
    ad_tape_free(tp);
    ad_params_free(ps);
    tagger_lexicon_free(&s.lx);
}

/* FORMULAS §12's sanity check: the tagger learns the tiny set by heart. */
TEST(learns_a_tiny_set_by_heart) {
    tiny_set s;
    tiny_load(&s, 1);
    tagger_config cfg = tagger_config_default();
    cfg.words = text_vocab_size(s.lx.words);
    cfg.suffixes = text_vocab_size(s.lx.suffixes);
    cfg.tags = text_vocab_size(s.lx.tags);
    cfg.word_dim = 8, cfg.suffix_dim = 4, cfg.shape_dim = 4, cfg.hidden = 8, cfg.dropout = 0.1;
    nn_rng r = nn_rng_new(5);
    ad_params *ps = ad_params_new();
    tagger m;
    tagger_init(&m, ps, &cfg, &r);
    nn_optim *opt = nn_optim_new(ps, &(nn_optim_config){.kind = NN_ADAM, .lr = 0.03});
    ad_tape *tp = ad_tape_new();
    tagger_batch *bt = tagger_batch_new(NTINY * MAXLEN, NTINY);
    tiny_batch(&s, bt, 0, NTINY);
    double loss = 0;
    for (int step = 0; step < 200; step++) {
        loss = nn_train_step(tp, tagger_loss(tp, &m, bt), opt, 5.0);
        ad_tape_reset(tp);
    }
    ad_tape_set_training(tp, false);
    double J = ad_item(tagger_loss(tp, &m, bt));
    th_note("training loss %.4f, evaluation loss %.4f", loss, J);
    CHECK(J < 0.05);
    int pred[NTINY * MAXLEN], wrong = 0;
    ad_tape_reset(tp);
    tagger_predict(tp, &m, bt, pred);
    for (int b = 0; b < NTINY; b++)
        for (int t = 0; t < bt->T; t++) {
            int i = t * NTINY + b;
            if (t >= s.lengths[b])
                CHECK(pred[i] == -1);
            else
                wrong += pred[i] != s.tags[b][t];
        }
    CHECK(wrong == 0);
    tagger_batch_free(bt);
    ad_tape_free(tp);
    nn_optim_free(opt);
    ad_params_free(ps);
    tagger_lexicon_free(&s.lx);
}

TEST(batch_misuse_is_a_contract_error) {
    tagger_batch *bt = tagger_batch_new(6, 2);
    int lengths[3] = {4, 2, 1}, f[4 * TAGGER_NFEAT] = {0};
    const int *fp[3] = {f, f, f};
    EXPECT_ERROR(tagger_batch_set(bt, 2, lengths, fp, NULL), "tagger_batch_set", "6 rows");
    EXPECT_ERROR(tagger_batch_set(bt, 3, lengths + 1, fp, NULL), "tagger_batch_set");
    lengths[0] = 0;
    EXPECT_ERROR(tagger_batch_set(bt, 1, lengths, fp, NULL), "0 tokens");
    tagger_batch_free(bt);
    EXPECT_ERROR(tagger_init(&(tagger){0}, NULL, &(tagger_config){.words = 0}, NULL),
                 "tagger_init");
}

/* ------------------------------------------------------- model files ---- */

static char tmp_path[256];

static const char *tmp_file(const char *name) {
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(tmp_path, sizeof tmp_path, "%s/seqgrad_tagger_%d_%s", base, (int)getpid(), name);
    return tmp_path;
}

TEST(lexicon_file_round_trip_and_bad_files) {
    tiny_set s;
    tiny_load(&s, 2);
    tagger_config cfg = tagger_config_default(), back;
    cfg.words = text_vocab_size(s.lx.words);
    cfg.suffixes = text_vocab_size(s.lx.suffixes);
    cfg.tags = text_vocab_size(s.lx.tags);
    cfg.char_features = false;
    const char *path = tmp_file("ok.lex");
    REQUIRE(tagger_lexicon_save(path, &s.lx, &cfg) == NN_OK);
    tagger_lexicon lx;
    REQUIRE(tagger_lexicon_load(path, &lx, &back) == NN_OK);
    CHECK(back.words == cfg.words && back.suffixes == cfg.suffixes && back.tags == cfg.tags);
    CHECK(back.word_dim == cfg.word_dim && back.suffix_dim == cfg.suffix_dim &&
          back.shape_dim == cfg.shape_dim && back.hidden == cfg.hidden &&
          back.layers == cfg.layers && back.dropout == cfg.dropout);
    CHECK(!back.char_features);
    const char *words[] = {"The", "dog", "Mat", "cats", "unseen", "."};
    for (size_t k = 0; k < sizeof words / sizeof words[0]; k++) {
        int f1[TAGGER_NFEAT], f2[TAGGER_NFEAT];
        tagger_featurize(&s.lx, words[k], k == 0, f1);
        tagger_featurize(&lx, words[k], k == 0, f2);
        CHECK_MSG(memcmp(f1, f2, sizeof f1) == 0, "features of '%s' differ after the round trip",
                  words[k]);
    }
    for (int id = 0; id < cfg.tags; id++)
        CHECK(strcmp(text_vocab_word(lx.tags, id), text_vocab_word(s.lx.tags, id)) == 0);
    tagger_lexicon_free(&lx);
    unlink(path);

    CHECK(tagger_lexicon_load(tmp_file("missing.lex"), &lx, &back) == NN_ERR_IO);
    CHECK(strstr(nn_last_error(), "missing.lex") != NULL);
    path = tmp_file("bad.lex");
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    fputs("seqgrad-classifier-lexicon 1\nconfig 1 2\n", f);
    fclose(f);
    CHECK(tagger_lexicon_load(path, &lx, &back) == NN_ERR_FORMAT);
    CHECK(strstr(nn_last_error(), "not a tagger lexicon") != NULL);
    f = fopen(path, "w");
    REQUIRE(f);
    fputs("seqgrad-tagger-lexicon 1\nconfig 3 2 2 4 4 4 4 1 1 0.1\nwords 3\n<unk> 0\na 1\n", f);
    fclose(f);
    CHECK(tagger_lexicon_load(path, &lx, &back) == NN_ERR_FORMAT);
    CHECK(strstr(nn_last_error(), "line 6") != NULL); /* the third word is missing */
    unlink(path);
    tagger_lexicon_free(&s.lx);
}

/* ---------------------------------------------------------- baseline ---- */

TEST(baseline_most_frequent_tag_and_suffix_rule) {
    tagger_baseline *b = tagger_baseline_new(6); /* tags 0..5 */
    enum { AT = 1, NN = 2, VB = 3, VBG = 4, NP = 5 };
    for (int k = 0; k < 5; k++)
        tagger_baseline_count(b, "the", AT);
    tagger_baseline_count(b, "run", VB);
    tagger_baseline_count(b, "run", VB);
    tagger_baseline_count(b, "run", NN);
    tagger_baseline_count(b, "walking", VBG); /* hapax legomena */
    tagger_baseline_count(b, "talking", VBG);
    tagger_baseline_count(b, "Boston", NP);
    tagger_baseline_count(b, "ring", NN);
    tagger_baseline_finish(b);
    CHECK(tagger_baseline_known(b, "run"));
    CHECK(!tagger_baseline_known(b, "Run"));
    CHECK(tagger_baseline_tag(b, "run", true) == VB);
    CHECK(tagger_baseline_tag(b, "the", false) == AT);
    CHECK(tagger_baseline_tag(b, "singing", true) == VBG); /* "ing": 2 vbg, 1 nn */
    CHECK(tagger_baseline_tag(b, "singing", false) == AT); /* the most frequent tag */
    CHECK(tagger_baseline_tag(b, "Houston", true) == NP);  /* "1:ton" */
    CHECK(tagger_baseline_tag(b, "houston", true) == AT);  /* lowercase "on": no hapax */
    CHECK(tagger_baseline_tag(b, "qqq", true) == AT);
    EXPECT_ERROR(tagger_baseline_count(b, "x", 6), "tagger_baseline_count");
    tagger_baseline_free(b);
}
