/* sentembed similarity: the cosine similarity matrix of the given texts (util.cos_sim). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/utf8.h"
#include "trainer/cli.h"
#include "trainer/semantic_search.h"
#include "trainer/sentence_model.h"

static const char USAGE[] =
    "usage: sentembed similarity --model DIR [--device D] TEXT_A TEXT_B [TEXT ...]\n"
    "\n"
    "Prints the cosine similarity of every pair of texts, as util.cos_sim(emb, emb).\n";

int cmd_similarity(int argc, char **argv)
{
    const char *model = NULL, *device = "auto";
    const char **texts = se_xmalloc((size_t)argc * sizeof *texts);
    size_t *lens = se_xmalloc((size_t)argc * sizeof *lens), n = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(USAGE, stdout);
            free(texts);
            free(lens);
            return 0;
        } else if ((v = cli_option_value(argc, argv, &i, "--model"))) {
            model = v;
        } else if ((v = cli_option_value(argc, argv, &i, "--device"))) {
            device = v;
        } else if (!strncmp(argv[i], "--", 2)) {
            fprintf(stderr, "sentembed similarity: error: unknown argument '%s'\n\n%s", argv[i], USAGE);
            free(texts);
            free(lens);
            return 2;
        } else {
            lens[n] = strlen(argv[i]);
            if (utf8_valid_prefix((const uint8_t *)argv[i], lens[n]) != lens[n])
                se_die("text %zu is not valid UTF-8", n + 1);
            texts[n++] = argv[i];
        }
    }
    if (!model || n < 2) {
        fprintf(stderr, "sentembed similarity: error: need --model DIR and at least two texts\n\n%s", USAGE);
        free(texts);
        free(lens);
        return 2;
    }
    SentenceModel m;
    cli_load_model(&m, model, device, 32, 0);
    float *emb = se_xmalloc(n * (size_t)m.out_dim * sizeof *emb), *sim = se_xmalloc(n * n * sizeof *sim);
    sm_encode(&m, texts, lens, n, false, emb, NULL, NULL);
    cos_sim_matrix(emb, n, emb, n, m.out_dim, sim);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++)
            printf(j ? " %7.4f" : "%7.4f", sim[i * n + j]);
        printf("   [%zu] %.60s%s\n", i, texts[i], strlen(texts[i]) > 60 ? "..." : "");
    }
    free(emb);
    free(sim);
    free(texts);
    free(lens);
    sm_free(&m);
    return 0;
}
