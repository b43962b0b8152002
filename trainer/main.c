/* sentembed: one binary, git-style subcommands. */
#include <stdio.h>
#include <string.h>

#include "host/dist.h"
#include "trainer/cli.h"

static const char USAGE[] =
    "usage: sentembed COMMAND [ARGS]\n"
    "\n"
    "Train, run and benchmark sentence-embedding models (BERT + pooling), natively.\n"
    "\n"
    "commands:\n"
    "  train      fine-tune a model on pairs or triplets (CPU or GPU; data-parallel under mpirun)\n"
    "  eval       similarity (Spearman/Pearson) or triplet accuracy of a model\n"
    "  encode     embeddings of lines of text (stdin) as .npy or JSON lines\n"
    "  similarity cosine similarity matrix of texts\n"
    "  search     top-k corpus lines for each query (exact cosine search)\n"
    "  info       what a model directory holds\n"
    "  tokenize   WordPiece ids (or tokens) for lines of text on stdin\n"
    "\n"
    "`sentembed COMMAND --help` describes a command.\n";

int main(int argc, char **argv)
{
    /* under mpirun or srun, this process is one rank of a job (host/dist.h); otherwise alone */
    dist_init(&argc, &argv);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    static const struct {
        const char *name;
        int (*run)(int, char **);
    } COMMANDS[] = {{"tokenize", cmd_tokenize}, {"encode", cmd_encode}, {"similarity", cmd_similarity},
                    {"search", cmd_search},     {"info", cmd_info},
                    {"train", cmd_train},       {"eval", cmd_eval}};
    for (size_t k = 0; k < sizeof COMMANDS / sizeof *COMMANDS; k++)
        if (!strcmp(argv[1], COMMANDS[k].name)) {
            int rc = COMMANDS[k].run(argc - 1, argv + 1);
            /* every rank ends a command the same way (a stop after the same step: 130, 143);
             * MPI_Finalize waits for all of them */
            dist_finalize();
            return rc;
        }
    fprintf(stderr, "sentembed: error: unknown command '%s'\n\n%s", argv[1], USAGE);
    return 2;
}
