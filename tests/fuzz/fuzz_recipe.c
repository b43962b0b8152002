/* libFuzzer target over the training recipe loader: the input is the recipe file (a memfd),
 * loaded with and without a --set override, and hashed. Checks, besides the sanitizers:
 * a refused recipe leaves a message, and an accepted one has its data specs. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_file.h"
#include "trainer/train_config.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_file_init("fuzz_recipe");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_file_write(data, size);
    static const char *const overrides[] = {"data.label_scale=2", "batch_sampler=no_duplicates", "x.y=[1"};
    for (int n = 0; n <= 3; n += 3) {
        TrainRecipe r;
        SeError err = {{0}};
        if (recipe_load(&r, fuzz_path, overrides, n, &err) == 0) {
            if (r.n_data < 1 || !r.data || !r.model || !r.output_dir)
                abort();
            (void)recipe_hash(&r, 2);
            recipe_free(&r);
        } else if (!err.msg[0]) {
            abort();
        }
    }
    return 0;
}
