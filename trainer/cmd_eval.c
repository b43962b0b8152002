/* sentembed eval: run an evaluator on a model, as sentence-transformers'
 * EmbeddingSimilarityEvaluator (pairs with gold scores) or TripletEvaluator (triplets). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/json_util.h"
#include "trainer/cli.h"
#include "trainer/evaluator.h"

static const char USAGE[] =
    "usage: sentembed eval --model DIR --data SPEC [--device D] [--batch-size N]\n"
    "\n"
    "SPEC is a JSON object (or @FILE holding one), as \"data\" in a training recipe:\n"
    "  {\"path\": \"sts-dev.csv\", \"format\": \"tsv\", \"columns\": [5, 6], \"label\": 4, \"label_scale\": 5}\n"
    "Two text columns and a label: Pearson and Spearman correlation of the cosine similarity\n"
    "with the gold scores; null, with \"undefined\" saying why, when either side is constant\n"
    "(all gold scores equal, say). Three text columns: triplet accuracy, cos(a, p) > cos(a, n).\n";

int cmd_eval(int argc, char **argv)
{
    const char *model = NULL, *spec_text = NULL, *device = "auto";
    int batch_size = 32;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(USAGE, stdout);
            return 0;
        } else if ((v = cli_option_value(argc, argv, &i, "--model"))) {
            model = v;
        } else if ((v = cli_option_value(argc, argv, &i, "--data"))) {
            spec_text = v;
        } else if ((v = cli_option_value(argc, argv, &i, "--device"))) {
            device = v;
        } else if ((v = cli_option_value(argc, argv, &i, "--batch-size"))) {
            batch_size = (int)cli_parse_long(v, "--batch-size", 1, 1 << 16);
        } else {
            fprintf(stderr, "sentembed eval: error: unknown argument '%s'\n\n%s", argv[i], USAGE);
            return 2;
        }
    }
    if (!model || !spec_text) {
        fprintf(stderr, "sentembed eval: error: --model DIR and --data SPEC are required\n\n%s", USAGE);
        return 2;
    }
    SeError err;
    cJSON *spec = json_parse_arg(spec_text, "--data", &err);
    if (!spec)
        se_die("%s", err.msg);
    DataSpec ds;
    Dataset d;
    if (data_spec_parse(&ds, spec, "--data", "data", NULL, &err) || dataset_load(&d, &ds, &err))
        se_die("%s", err.msg);
    SentenceModel m;
    cli_load_model(&m, model, device, batch_size, 0);
    EvalResult r;
    if (evaluate(&m, &d, &r, &err))
        se_die("%s", err.msg);
    if (d.n_columns == 2) {
        printf("{\"pairs\": %zu, \"pearson_cosine\": ", r.n);
        json_fprint_number(stdout, "%.6f", r.pearson);
        printf(", \"spearman_cosine\": ");
        json_fprint_number(stdout, "%.6f", r.spearman);
        if (r.undefined) {
            fprintf(stderr, "sentembed eval: warning: the correlations are undefined (null): %s\n", r.undefined);
            printf(", \"undefined\": \"%s\"", r.undefined);
        }
        printf("}\n");
    } else {
        printf("{\"triplets\": %zu, \"accuracy_cosine\": ", r.n);
        json_fprint_number(stdout, "%.6f", r.accuracy);
        printf("}\n");
    }
    sm_free(&m);
    dataset_free(&d);
    data_spec_free(&ds);
    cJSON_Delete(spec);
    return 0;
}
