/* The subcommands of the `sentembed` binary. Each returns the process exit status. */
#ifndef SENTEMBED_CLI_H
#define SENTEMBED_CLI_H

int cmd_tokenize(int argc, char **argv);
int cmd_tokenize_shard(int argc, char **argv); /* tokenize --shard */
int cmd_encode(int argc, char **argv);
int cmd_similarity(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);

/* "--name=value" or "--name value": returns the value and advances *i, or NULL when
 * argv[*i] is not this option. Dies with a message when the value is missing. */
const char *cli_option_value(int argc, char **argv, int *i, const char *name);
/* A non-negative integer option value, or death with a message naming the option. */
long cli_parse_long(const char *value, const char *option, long min, long max);

struct Ops;
/* "cpu", "cuda" or "auto" (cuda when a GPU is usable, else cpu); dies with the reason
 * when cuda is asked for and cannot be had. */
const struct Ops *cli_backend(const char *device);

struct SentenceModel;
/* Loads a model for the CLI (dies with the loader's message on failure). */
void cli_load_model(struct SentenceModel *m, const char *dir, const char *device, int batch_size, int max_seq_length);
/* Progress on stderr for long inputs (a callback for sm_encode; arg: a zeroed CliProgress). */
typedef struct {
    double start, last;
} CliProgress;
void cli_progress(size_t done, size_t total, void *arg);

#endif
