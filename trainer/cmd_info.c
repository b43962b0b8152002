/* sentembed info DIR: what a model directory holds, without running it. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "host/fileio.h"
#include "host/safetensors.h"
#include "tokenizer/tokenizer.h"
#include "trainer/bert_config.h"
#include "trainer/checkpoint.h"
#include "trainer/cli.h"
#include "trainer/manifest.h"
#include "trainer/st_pipeline.h"

static const char USAGE[] = "usage: sentembed info DIR\n\nPrints a model directory's architecture, parameter count "
                            "and modules. A directory sentembed wrote (a trained model, a checkpoint) is\nverified "
                            "against its sentembed_manifest.json: every file's size and SHA-256; exit 1 when\none "
                            "differs.\n";

int cmd_info(int argc, char **argv)
{
    if (argc != 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(USAGE, argc == 2 ? stdout : stderr);
        return argc == 2 ? 0 : 2;
    }
    const char *dir = argv[1];
    SeError err;
    StPipeline p;
    BertConfig c;
    Tokenizer tok;
    char path[ST_PATH_MAX];
    char manifest[4200];
    ManifestInfo info = {0};
    bool has_manifest = false;
    snprintf(manifest, sizeof manifest, "%s/" MANIFEST_FILE, dir);
    if (file_exists(manifest)) {
        /* first: a damaged file is reported as damaged, not as whatever its parser finds */
        if (manifest_verify(dir, &info, &err)) {
            fprintf(stderr, "sentembed info: error: %s\n", err.msg);
            return 1;
        }
        has_manifest = true;
    }
    if (st_pipeline_load(&p, dir, &err))
        se_die("%s", err.msg);
    if (path_join(path, sizeof path, p.transformer_dir, "config.json", &err) || bert_config_load(&c, path, &err))
        se_die("%s", err.msg);
    if (tok_load_dir(&tok, p.transformer_dir, &err))
        se_die("%s", err.msg);
    long long params = bert_param_count(&c);
    long long dense = p.has_dense ? (long long)p.dense_in * p.dense_out + (p.dense_bias ? p.dense_out : 0) : 0;
    printf("model:        %s%s\n", dir, p.from_modules_json ? " (sentence-transformers)" : " (Hugging Face; mean pooling)");
    printf("architecture: BERT, %d layers, hidden %d, %d heads, intermediate %d, vocab %d, %d positions, "
           "%d token types\n",
           c.num_layers, c.hidden_size, c.num_heads, c.intermediate_size, c.vocab_size, c.max_position_embeddings,
           c.type_vocab_size);
    printf("parameters:   %lld (encoder %lld, dense %lld)\n", params + dense, params, dense);
    if (path_join(path, sizeof path, p.transformer_dir, "model.safetensors", &err) == 0 && file_exists(path)) {
        StFile f;
        if (st_open(&f, path, &err))
            se_die("%s", err.msg);
        int counts[16] = {0};
        for (int i = 0; i < f.n_tensors; i++)
            counts[f.tensors[i].dtype & 15]++;
        printf("weights:      %s: %d tensors (", path, f.n_tensors);
        for (int d = 0, first = 1; d < 16; d++)
            if (counts[d]) {
                printf("%s%d %s", first ? "" : ", ", counts[d], st_dtype_name((StDtype)d));
                first = 0;
            }
        printf(")\n");
        st_close(&f);
    }
    printf("modules:      Transformer(max_seq_length=%d%s) -> Pooling(%s)", p.max_seq_length,
           p.do_lower_case ? ", do_lower_case" : "", pool_mode_name(p.pooling));
    if (p.has_dense)
        printf(" -> Dense(%d -> %d, %s%s)", p.dense_in, p.dense_out, p.dense_act == DENSE_TANH ? "tanh" : "identity",
               p.dense_bias ? "" : ", no bias");
    if (p.normalize)
        printf(" -> Normalize");
    printf("\nembedding:    %d dimensions\n", p.has_dense ? p.dense_out : c.hidden_size);
    printf("tokenizer:    WordPiece, %zu tokens, lowercase %s, strip accents %s, model_max_length %lld\n",
           tok.vocab.size, tok.norm.lowercase ? "yes" : "no", tok.strip ? "yes" : "no", tok.model_max_length);
    tok_free(&tok);
    if (has_manifest) {
        printf("files:        %zu, every one matching %s (a %s, step %ld)\n", info.n_files, MANIFEST_FILE,
               info.kind == MANIFEST_MODEL ? "trained model" : "checkpoint", info.step);
        manifest_info_free(&info);
    }
    char state[4200];
    snprintf(state, sizeof state, "%s/training_state.bin", dir);
    if (file_exists(state)) { /* a training checkpoint */
        TrainPosition pos;
        if (checkpoint_describe(dir, &pos, &err)) {
            fprintf(stderr, "sentembed info: error: %s\n", err.msg);
            return 1;
        }
        printf("checkpoint:   after optimizer step %ld, epoch %ld (training state verified)\n", pos.step, pos.epoch + 1);
    }
    return 0;
}
