/*
 * Tests of models/classifier.c: the recurrent classifier's gradients by central differences on
 * tiny configurations with texts of unequal lengths (each cell and pooling), mean pooling against
 * the runner's outputs averaged by hand, padding invariance, a tiny set learnt by heart; the
 * labelled-text reader, the lexicon file, and naive Bayes against its formula by hand.
 */
#include "classifier.h"
#include "harness.h"

#include <unistd.h>

/* --------------------------------------------------------- gradients ---- */

enum { V = 7, C = 3, T = 5, B = 3 };
static const int lengths[B] = {5, 2, 4};

typedef struct grad_ctx {
    clf m;
    int ids[T * B], labels[B];
} grad_ctx;

static ad_tensor *clf_loss_fn(ad_tape *tp, void *ctx) {
    grad_ctx *g = ctx;
    return clf_loss(tp, &g->m, g->ids, T, B, lengths, g->labels);
}

static void gradcheck_config(nn_cell_kind cell, clf_pool pool) {
    clf_config cfg = {
        .vocab = V, .classes = C, .dim = 3, .hidden = 3, .cell = cell, .pool = pool, .dropout = 0};
    nn_rng r = nn_rng_new(9);
    ad_params *ps = ad_params_new();
    grad_ctx g;
    clf_init(&g.m, ps, &cfg, &r);
    th_fill_uniform(ad_params_values(ps), ad_params_size(ps), -0.5, 0.5, 13);
    for (int i = 0; i < T * B; i++)
        g.ids[i] = (int)nn_rng_below(&r, V);
    for (int b = 0; b < B; b++)
        g.labels[b] = (int)nn_rng_below(&r, C);
    ad_gradcheck_result res = CHECK_GRADCHECK(ps, clf_loss_fn, &g, &th_tight);
    th_note("%s, %s pooling: %d coordinates, max rel err %.2e", nn_cell_kind_name(cell),
            clf_pool_name(pool), res.checked, res.max_rel_err);
    CHECK(res.checked > 100);
    ad_params_free(ps);
}

TEST(gradients_gru_mean) {
    gradcheck_config(NN_GRU, CLF_POOL_MEAN);
}
TEST(gradients_lstm_final) {
    gradcheck_config(NN_LSTM, CLF_POOL_FINAL);
}
TEST(gradients_gru_both) {
    gradcheck_config(NN_GRU, CLF_POOL_BOTH);
}

/* Mean pooling is (1/len) Σ_t h(t) over the real steps, by hand from the runner's outputs. */
TEST(mean_pooling_by_hand) {
    clf_config cfg = {.vocab = V,
                      .classes = C,
                      .dim = 4,
                      .hidden = 3,
                      .cell = NN_LSTM,
                      .pool = CLF_POOL_MEAN,
                      .dropout = 0};
    nn_rng r = nn_rng_new(2);
    ad_params *ps = ad_params_new();
    clf m;
    clf_init(&m, ps, &cfg, &r);
    th_fill_uniform(ad_params_values(ps), ad_params_size(ps), -0.5, 0.5, 3);
    int ids[T * B];
    for (int i = 0; i < T * B; i++)
        ids[i] = i % V;
    ad_tape *tp = ad_tape_new();
    ad_tensor *z = clf_logits(tp, &m, ids, T, B, lengths);
    nn_rnn_result res =
        nn_rnn_forward(tp, &m.rnn, nn_embedding_forward(tp, &m.emb, ids, T * B), T, lengths, NULL);
    const int W = 2 * cfg.hidden;
    double got[B * C], want[B * C];
    for (int b = 0; b < B; b++) {
        double v[6] = {0};
        for (int t = 0; t < lengths[b]; t++)
            for (int j = 0; j < W; j++)
                v[j] += ad_data(res.out)[(t * B + b) * W + j] / lengths[b];
        for (int c = 0; c < C; c++) {
            double s = ad_data(m.out.b)[c];
            for (int j = 0; j < W; j++)
                s += v[j] * ad_data(m.out.W)[j * C + c];
            want[b * C + c] = s;
            got[b * C + c] = ad_data(z)[b * C + c];
        }
    }
    CHECK_ARRAY("logits", got, want, B * C, 1e-12, 1e-14);
    ad_tape_free(tp);
    ad_params_free(ps);
}

/* A text's logits are the same alone and in a batch beside a longer text, for every pooling. */
TEST(padding_changes_nothing) {
    for (int pool = 0; pool < 3; pool++) {
        clf_config cfg = {.vocab = V,
                          .classes = C,
                          .dim = 4,
                          .hidden = 3,
                          .cell = NN_GRU,
                          .pool = (clf_pool)pool,
                          .dropout = 0.5};
        nn_rng r = nn_rng_new(4);
        ad_params *ps = ad_params_new();
        clf m;
        clf_init(&m, ps, &cfg, &r);
        ad_tape *tp = ad_tape_new();
        ad_tape_set_training(tp, false); /* dropout off */
        const int alone[2] = {3, 5}, len1[1] = {2};
        ad_tensor *z1 = clf_logits(tp, &m, alone, 2, 1, len1);
        const int batch[4 * 2] = {3, 1, 5, 2, 6, 4, 0, 6}; /* text 0: 3 5 (then padding) */
        const int len2[2] = {2, 4};
        ad_tensor *z2 = clf_logits(tp, &m, batch, 4, 2, len2);
        double a[C], p[C];
        for (int c = 0; c < C; c++)
            a[c] = ad_data(z1)[c], p[c] = ad_data(z2)[c];
        CHECK_ARRAY(clf_pool_name((clf_pool)pool), p, a, C, 1e-12, 1e-14);
        ad_tape_free(tp);
        ad_params_free(ps);
    }
}

/* FORMULAS §12's sanity check: two classes told apart by their words, learnt by heart. */
TEST(learns_a_tiny_set_by_heart) {
    clf_config cfg = clf_config_default();
    cfg.vocab = 10, cfg.classes = 2, cfg.dim = 8, cfg.hidden = 8, cfg.dropout = 0;
    nn_rng r = nn_rng_new(6);
    ad_params *ps = ad_params_new();
    clf m;
    clf_init(&m, ps, &cfg, &r);
    nn_optim *opt = nn_optim_new(ps, &(nn_optim_config){.kind = NN_ADAM, .lr = 0.02});
    enum { N = 8, L = 6 };
    int ids[L * N], len[N], labels[N];
    for (int b = 0; b < N; b++) { /* class 1 texts contain word 9 somewhere, class 0 never */
        labels[b] = b % 2;
        len[b] = 3 + b % 4;
        for (int t = 0; t < L; t++)
            ids[t * N + b] = 1 + (int)nn_rng_below(&r, 8);
        if (labels[b]) ids[((b / 2) % len[b]) * N + b] = 9;
    }
    ad_tape *tp = ad_tape_new();
    for (int step = 0; step < 150; step++) {
        nn_train_step(tp, clf_loss(tp, &m, ids, L, N, len, labels), opt, 5.0);
        ad_tape_reset(tp);
    }
    double J = ad_item(clf_loss(tp, &m, ids, L, N, len, labels));
    th_note("loss after 150 steps: %.4f", J);
    CHECK(J < 0.05);
    int pred[N];
    clf_predict(tp, &m, ids, L, N, len, pred);
    for (int b = 0; b < N; b++)
        CHECK(pred[b] == labels[b]);
    ad_tape_free(tp);
    nn_optim_free(opt);
    ad_params_free(ps);
}

/* ---------------------------------------------------------- naive Bayes ---- */

TEST(naive_bayes_against_its_formula) {
    /* vocab 4, classes 3 (class 2 never trained), alpha 0.5 */
    clf_nb *nb = clf_nb_new(4, 3, 0.5);
    const int a[] = {1, 1, 2}, b[] = {3, 3, 3, 1}, c[] = {1};
    clf_nb_add(nb, a, 3, 0);
    clf_nb_add(nb, c, 1, 0);
    clf_nb_add(nb, b, 4, 1);
    /* class 0: 2 texts of 3, words: 1 x3, 2 x1 (4 in all); class 1: 1 text, 3 x3, 1 x1 */
    const int q[] = {1, 3, 0};
    double s[3];
    int best = clf_nb_predict(nb, q, 3, s);
    double d0 = 4 + 0.5 * 4, d1 = 4 + 0.5 * 4;
    double w0 = log(2.0 / 3) + log(3.5 / d0) + log(0.5 / d0) + log(0.5 / d0);
    double w1 = log(1.0 / 3) + log(1.5 / d1) + log(3.5 / d1) + log(0.5 / d1);
    CHECK_NEAR(s[0], w0, 1e-12, 0);
    CHECK_NEAR(s[1], w1, 1e-12, 0);
    CHECK(isinf(s[2]) && s[2] < 0);
    CHECK(best == (w1 > w0 ? 1 : 0));
    const int only3[] = {3, 3};
    CHECK(clf_nb_predict(nb, only3, 2, NULL) == 1);
    EXPECT_ERROR(clf_nb_add(nb, q, 3, 3), "clf_nb_add", "label 3");
    const int bad[] = {4};
    EXPECT_ERROR(clf_nb_predict(nb, bad, 1, NULL), "clf_nb_predict", "word id 4");
    clf_nb_free(nb);
}

/* ---------------------------------------------------------- files ---- */

static char tmp_path[256];

static const char *tmp_write(const char *name, const char *content) {
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(tmp_path, sizeof tmp_path, "%s/seqgrad_clf_%d_%s", base, (int)getpid(), name);
    if (content) {
        FILE *f = fopen(tmp_path, "w");
        if (!f) th_abort_case();
        fputs(content, f);
        fclose(f);
    }
    return tmp_path;
}

TEST(reads_labelled_texts) {
    const char *path = tmp_write("ok.tsv", "news\tthe jury said\n\nfiction\tshe said no\r\n"
                                           "news\t\nnews\tthe  end\n");
    text_vocab *w = text_vocab_new(), *l = text_vocab_new();
    clf_docs d;
    REQUIRE(clf_read(path, w, true, l, true, &d) == NN_OK);
    CHECK(d.text.nlines == 3); /* the empty "news" text is skipped */
    CHECK(d.text.n == 8);
    CHECK(d.label[0] == text_vocab_find(l, "news") && d.label[1] == text_vocab_find(l, "fiction"));
    CHECK(d.label[2] == d.label[0]);
    CHECK(d.text.line_start[1] == 3 && d.text.line_start[2] == 6 && d.text.line_start[3] == 8);
    CHECK(d.text.ids[3] == text_vocab_find(w, "she") && d.text.ids[4] == d.text.ids[2]);
    CHECK(text_vocab_size(l) == 3); /* <unk>, news, fiction */
    clf_docs_free(&d);
    unlink(path);

    /* a fixed vocabulary: unknown words -> <unk>; unknown label -> an error naming the line */
    path = tmp_write("new.tsv", "fiction\tthe zebra said\n");
    REQUIRE(clf_read(path, w, false, l, false, &d) == NN_OK);
    CHECK(d.text.ids[1] == TEXT_UNK && d.text.ids[0] == text_vocab_find(w, "the"));
    clf_docs_free(&d);
    path = tmp_write("badlabel.tsv", "fiction\tok\nromance\tthe end\n");
    CHECK(clf_read(path, w, false, l, false, &d) == NN_ERR_FORMAT);
    CHECK(strstr(nn_last_error(), "line 2") && strstr(nn_last_error(), "romance"));
    unlink(path);
    path = tmp_write("notab.tsv", "news the jury\n");
    CHECK(clf_read(path, w, true, l, true, &d) == NN_ERR_FORMAT);
    CHECK(strstr(nn_last_error(), "line 1") != NULL);
    unlink(path);
    path = tmp_write("empty.tsv", "\n\n");
    CHECK(clf_read(path, w, true, l, true, &d) == NN_ERR_FORMAT);
    CHECK(strstr(nn_last_error(), "no labelled text") != NULL);
    unlink(path);
    CHECK(clf_read(tmp_write("missing.tsv", NULL), w, true, l, true, &d) == NN_ERR_IO);
    CHECK(strstr(nn_last_error(), "missing.tsv") != NULL);
    text_vocab_free(w);
    text_vocab_free(l);
}

TEST(lexicon_file_round_trip_and_bad_files) {
    text_vocab *w = text_vocab_new(), *l = text_vocab_new();
    text_vocab_add(w, "the", 5);
    text_vocab_add(w, "jury", 2);
    text_vocab_add(l, "news", 3);
    clf_config cfg = clf_config_default(), back;
    cfg.vocab = 3, cfg.classes = 2, cfg.cell = NN_LSTM, cfg.pool = CLF_POOL_BOTH;
    const char *path = tmp_write("ok.lex", NULL);
    REQUIRE(clf_lexicon_save(path, w, l, &cfg) == NN_OK);
    text_vocab *w2, *l2;
    REQUIRE(clf_lexicon_load(path, &w2, &l2, &back) == NN_OK);
    CHECK(back.vocab == 3 && back.classes == 2 && back.cell == NN_LSTM &&
          back.pool == CLF_POOL_BOTH && back.dim == cfg.dim && back.hidden == cfg.hidden &&
          back.dropout == cfg.dropout);
    CHECK(text_vocab_find(w2, "jury") == text_vocab_find(w, "jury"));
    CHECK(text_vocab_count(w2, 1) == 5);
    CHECK(strcmp(text_vocab_word(l2, 1), "news") == 0);
    text_vocab_free(w2);
    text_vocab_free(l2);
    unlink(path);
    path = tmp_write("bad.lex", "seqgrad-tagger-lexicon 1\n");
    CHECK(clf_lexicon_load(path, &w2, &l2, &back) == NN_ERR_FORMAT);
    CHECK(strstr(nn_last_error(), "not a classifier lexicon") != NULL);
    path = tmp_write("bad.lex", "seqgrad-classifier-lexicon 1\nconfig 3 2 4 4 SOMECELL mean 0\n");
    CHECK(clf_lexicon_load(path, &w2, &l2, &back) == NN_ERR_FORMAT);
    CHECK(strstr(nn_last_error(), "config") != NULL);
    unlink(path);
    CHECK(clf_pool_parse("max") == -1 && clf_pool_parse("final") == CLF_POOL_FINAL);
    text_vocab_free(w);
    text_vocab_free(l);
}
