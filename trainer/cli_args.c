#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/clock.h"
#include "host/error.h"
#include "kernels/ops.h"
#include "trainer/cli.h"
#include "trainer/sentence_model.h"

const char *cli_option_value(int argc, char **argv, int *i, const char *name)
{
    const char *arg = argv[*i];
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0)
        return NULL;
    if (arg[n] == '=')
        return arg + n + 1;
    if (arg[n] != '\0')
        return NULL;
    if (*i + 1 >= argc)
        se_die("option %s needs a value", name);
    return argv[++*i];
}

long cli_parse_long(const char *value, const char *option, long min, long max)
{
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno || end == value || *end != '\0' || v < min || v > max)
        se_die("option %s: expected an integer from %ld to %ld, got '%s'", option, min, max, value);
    return v;
}

const Ops *cli_backend(const char *device)
{
    char why[512] = "";
    if (!strcmp(device, "cpu"))
        return ops_cpu();
    if (!strcmp(device, "cuda") || !strcmp(device, "auto")) {
        const Ops *ops = ops_cuda(why, sizeof why);
        if (ops)
            return ops;
        if (!strcmp(device, "cuda"))
            se_die("--device cuda: %s", why);
        return ops_cpu();
    }
    se_die("option --device: expected cpu, cuda or auto, got '%s'", device);
}

void cli_load_model(SentenceModel *m, const char *dir, const char *device, int batch_size, int max_seq_length)
{
    SeError err;
    if (sm_load(m, dir, cli_backend(device), batch_size, max_seq_length, &err))
        se_die("%s", err.msg);
}

void cli_progress(size_t done, size_t total, void *arg)
{
    CliProgress *st = arg;
    double now = se_now_s();
    if (st->start == 0)
        st->start = st->last = now;
    bool tty = isatty(STDERR_FILENO);
    /* 5 updates a second on a terminal, a line every 10 s otherwise, and the last one */
    if (done < total && now - st->last < (tty ? 0.2 : 10.0))
        return;
    if (total < 2000 && !tty)
        return;
    st->last = now;
    double rate = done / (now - st->start > 1e-9 ? now - st->start : 1e-9);
    double eta = (double)(total - done) / (rate > 0 ? rate : 1);
    fprintf(stderr, "%sencoded %zu/%zu sentences, %.0f sentences/s, ETA %.0f s%s", tty ? "\r" : "", done, total, rate,
            eta, tty && done < total ? "" : "\n");
}
