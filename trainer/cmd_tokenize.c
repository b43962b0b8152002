/* sentembed tokenize: WordPiece ids for each line of stdin, on all cores.
 *
 * Lines are split on '\n' only (a '\r' before it is whitespace to the tokenizer); with
 * --pair the text before the first TAB is the first sequence and the rest the second. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/input_limits.h"
#include "host/utf8.h"
#include "tokenizer/tokenizer.h"
#include "trainer/cli.h"

static const char USAGE[] =
    "usage: sentembed tokenize (--model DIR | --vocab FILE) [options] < lines.txt\n"
    "\n"
    "Writes one line per input line: the token ids, separated by spaces, with [CLS]/[SEP]\n"
    "added and truncation as Hugging Face tokenizers does it (longest_first for pairs).\n"
    "\n"
    "  --model DIR          model directory (tokenizer.json or vocab.txt, tokenizer_config.json, ...)\n"
    "  --vocab FILE         a bare vocab.txt (BERT uncased defaults)\n"
    "  --cased              no lowercasing and no accent stripping\n"
    "  --max-length N       truncate to N ids including specials (default 512)\n"
    "  --pair               each line is TEXT_A<TAB>TEXT_B (split at the first TAB)\n"
    "  --tokens             print WordPiece strings instead of ids\n"
    "  --type-ids           print token type ids instead of ids\n"
    "  --utf8-errors=MODE   strict (default: invalid UTF-8 or a NUL is an error naming the line)\n"
    "                       or replace (each invalid sequence and each NUL becomes U+FFFD)\n"
    "  --threads N          worker threads (default: all cores)\n"
    "\n"
    "A line longer than SENTEMBED_MAX_LINE_BYTES (an environment variable; default 64M) is an\n"
    "error naming the line.\n"
    "\n"
    "sentembed tokenize --shard OUT --model DIR --data SPEC: a pre-tokenized shard of a dataset\n"
    "for training (sentembed tokenize --shard --help).\n";

#define BATCH_LINES 16384
#define READ_CHUNK (1 << 22)

typedef struct {
    const Tokenizer *tok;
    bool pair, tokens, type_ids, replace;
    size_t max_length;
    int threads;
    size_t line_no; /* lines finished before this batch */
    TokBatch batch;
    const char **a, **b;
    size_t *a_len, *b_len;
    uint8_t *repaired;
    size_t repaired_cap;
    char *out;
    size_t out_cap;
} TokenizeJob;

static void out_reserve(TokenizeJob *job, size_t used, size_t more)
{
    if (used + more <= job->out_cap)
        return;
    size_t cap = job->out_cap ? job->out_cap : 1 << 20;
    while (cap < used + more)
        cap *= 2;
    job->out = se_xrealloc(job->out, cap);
    job->out_cap = cap;
}

static size_t put_int(char *p, int32_t v)
{
    char tmp[12];
    size_t n = 0;
    uint32_t u = v < 0 ? (uint32_t)(-(int64_t)v) : (uint32_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    size_t o = 0;
    if (v < 0)
        p[o++] = '-';
    while (n)
        p[o++] = tmp[--n];
    return o;
}

/* Tokenizes lines[0..n) (pointers into the read buffer) and writes their output. */
static void run_batch(TokenizeJob *job, char **lines, size_t *lens, size_t n)
{
    /* Validate (or repair) first, so an error names its line before anything of this
     * batch is written. */
    size_t repaired_need = 0;
    for (size_t i = 0; i < n; i++) {
        size_t ok = utf8_text_prefix((const uint8_t *)lines[i], lens[i]);
        if (ok < lens[i]) {
            char why[160];
            if (!job->replace)
                se_die("stdin line %zu: %s; pass --utf8-errors=replace to replace invalid sequences and NULs with "
                       "U+FFFD", job->line_no + i + 1,
                       utf8_text_problem((const uint8_t *)lines[i], ok, "line", why, sizeof why));
            repaired_need += 3 * lens[i];
        }
    }
    if (repaired_need > job->repaired_cap) {
        job->repaired = se_xrealloc(job->repaired, repaired_need);
        job->repaired_cap = repaired_need;
    }
    size_t used = 0;
    for (size_t i = 0; i < n && repaired_need; i++) {
        if (utf8_text_prefix((const uint8_t *)lines[i], lens[i]) < lens[i]) {
            size_t m = utf8_repair((const uint8_t *)lines[i], lens[i], job->repaired + used);
            lines[i] = (char *)job->repaired + used;
            lens[i] = m;
            used += m;
        }
    }
    for (size_t i = 0; i < n; i++) {
        job->a[i] = lines[i];
        job->a_len[i] = lens[i];
        if (job->pair) {
            const char *tab = memchr(lines[i], '\t', lens[i]);
            if (!tab)
                se_die("stdin line %zu: --pair expects two texts separated by a TAB", job->line_no + i + 1);
            job->a_len[i] = (size_t)(tab - lines[i]);
            job->b[i] = tab + 1;
            job->b_len[i] = lens[i] - job->a_len[i] - 1;
        }
    }
    tok_encode_batch(job->tok, &job->batch, job->a, job->a_len, job->pair ? job->b : NULL, job->b_len, n,
                     job->max_length, job->threads);

    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = job->batch.offsets[i]; k < job->batch.offsets[i + 1]; k++) {
            const char *sep = k > job->batch.offsets[i] ? " " : "";
            if (job->tokens) {
                const char *tok = vocab_token(&job->tok->vocab, job->batch.ids[k]);
                size_t tl = tok ? strlen(tok) : 0;
                out_reserve(job, o, tl + 2);
                o += (size_t)sprintf(job->out + o, "%s", sep);
                memcpy(job->out + o, tok, tl);
                o += tl;
            } else {
                out_reserve(job, o, 14);
                if (*sep)
                    job->out[o++] = ' ';
                o += put_int(job->out + o, job->type_ids ? job->batch.type_ids[k] : job->batch.ids[k]);
            }
        }
        out_reserve(job, o, 1);
        job->out[o++] = '\n';
    }
    if (fwrite(job->out, 1, o, stdout) != o)
        se_die("writing to stdout failed");
    job->line_no += n;
}

int cmd_tokenize(int argc, char **argv)
{
    const char *model = NULL, *vocab = NULL, *utf8_errors = "strict";
    bool cased = false;
    TokenizeJob job = {0};
    job.max_length = 512;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--shard") || !strncmp(argv[i], "--shard=", 8))
            return cmd_tokenize_shard(argc, argv);
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(USAGE, stdout);
            return 0;
        } else if ((v = cli_option_value(argc, argv, &i, "--model"))) {
            model = v;
        } else if ((v = cli_option_value(argc, argv, &i, "--vocab"))) {
            vocab = v;
        } else if ((v = cli_option_value(argc, argv, &i, "--max-length"))) {
            job.max_length = (size_t)cli_parse_long(v, "--max-length", 2, 1L << 30);
        } else if ((v = cli_option_value(argc, argv, &i, "--utf8-errors"))) {
            utf8_errors = v;
        } else if ((v = cli_option_value(argc, argv, &i, "--threads"))) {
            job.threads = (int)cli_parse_long(v, "--threads", 1, 4096);
        } else if (!strcmp(argv[i], "--cased")) {
            cased = true;
        } else if (!strcmp(argv[i], "--pair")) {
            job.pair = true;
        } else if (!strcmp(argv[i], "--tokens")) {
            job.tokens = true;
        } else if (!strcmp(argv[i], "--type-ids")) {
            job.type_ids = true;
        } else {
            fprintf(stderr, "sentembed tokenize: error: unknown argument '%s'\n\n%s", argv[i], USAGE);
            return 2;
        }
    }
    if (!model == !vocab) {
        fprintf(stderr, "sentembed tokenize: error: give exactly one of --model DIR or --vocab FILE\n\n%s", USAGE);
        return 2;
    }
    if (strcmp(utf8_errors, "strict") && strcmp(utf8_errors, "replace"))
        se_die("option --utf8-errors: expected strict or replace, got '%s'", utf8_errors);
    job.replace = !strcmp(utf8_errors, "replace");
    if (job.pair && job.max_length < 3)
        se_die("option --max-length: a pair needs at least 3 ([CLS] and two [SEP])");

    Tokenizer tok;
    SeError err;
    if ((model ? tok_load_dir(&tok, model, &err) : tok_load_vocab(&tok, vocab, &err)))
        se_die("%s", err.msg);
    if (cased) {
        TokNormalizer nz = tok.norm;
        nz.lowercase = false;
        nz.strip_accents = 0;
        tok_set_normalizer(&tok, nz);
    }
    job.tok = &tok;
    job.a = se_xmalloc(BATCH_LINES * sizeof *job.a);
    job.b = se_xmalloc(BATCH_LINES * sizeof *job.b);
    job.a_len = se_xmalloc(BATCH_LINES * sizeof *job.a_len);
    job.b_len = se_xcalloc(BATCH_LINES, sizeof *job.b_len);
    char **lines = se_xmalloc(BATCH_LINES * sizeof *lines);
    size_t *lens = se_xmalloc(BATCH_LINES * sizeof *lens);

    size_t max_line, line = 1; /* the first line of buf */
    if (input_max_line_bytes(&max_line, &err))
        se_die("%s", err.msg);
    SeContext ctx;
    se_context_push(&ctx, "tokenizing", "stdin", &line);
    /* buf[0..filled) holds unread input; complete lines are cut from the front. */
    size_t cap = READ_CHUNK, filled = 0;
    char *buf = se_xmalloc(cap);
    bool eof = false, one_line = true; /* buf holds no '\n' */
    while (!eof || filled) {
        if (!eof) {
            if (filled == cap) {
                cap *= 2;
                buf = se_xrealloc(buf, cap);
            }
            /* never more than one byte past the cap of a line without end (/dev/zero) */
            size_t want = cap - filled, room = one_line ? max_line + 1 - filled : want;
            size_t got = fread(buf + filled, 1, want < room ? want : room, stdin);
            filled += got;
            if (got == 0) {
                if (ferror(stdin))
                    se_die("reading stdin failed");
                eof = true;
            }
        }
        size_t n = 0, pos = 0;
        while (n < BATCH_LINES && pos < filled) {
            char *nl = memchr(buf + pos, '\n', filled - pos);
            size_t end = nl ? (size_t)(nl - buf) : filled;
            if (end - pos > max_line) {
                char limit[32];
                se_format_bytes(limit, sizeof limit, (double)max_line);
                se_die("stdin line %zu: longer than %s, the limit of a line (set SENTEMBED_MAX_LINE_BYTES for "
                       "another)", line + n, limit);
            }
            if (!nl && !eof)
                break;
            lines[n] = buf + pos;
            lens[n++] = end - pos;
            pos = nl ? end + 1 : filled;
        }
        if (n)
            run_batch(&job, lines, lens, n);
        line = job.line_no + 1;
        one_line = n < BATCH_LINES; /* the cut stopped at a line without its '\n' */
        memmove(buf, buf + pos, filled - pos);
        filled -= pos;
    }
    se_context_pop(&ctx);
    if (fflush(stdout))
        se_die("writing to stdout failed");
    free(buf);
    free(lines);
    free(lens);
    free(job.a);
    free(job.b);
    free(job.a_len);
    free(job.b_len);
    free(job.repaired);
    free(job.out);
    tok_batch_free(&job.batch);
    tok_free(&tok);
    return 0;
}
