/* libFuzzer target over the safetensors reader. The input is the whole file; it goes
 * through a memfd so st_open maps it exactly as it would a file on disk. When st_open
 * accepts it, every float tensor is converted and, besides the sanitizers, the promises
 * st_open makes are checked: each tensor lies inside the data buffer, its size is its
 * element count times the dtype size, st_find returns it by name, and what st_read_f32
 * accepts is finite. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_file.h"
#include "host/safetensors.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_file_init("fuzz_safetensors");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_file_write(data, size);
    const char *path = fuzz_path;
    StFile f;
    SeError err;
    if (st_open(&f, path, &err) != 0) {
        if (!strstr(err.msg, path))
            abort(); /* every message names the file */
        return 0;
    }
    for (int i = 0; i < f.n_tensors; i++) {
        const StTensor *t = &f.tensors[i];
        size_t numel = st_numel(t);
        if (t->offset > f.data_len || t->nbytes > f.data_len - t->offset ||
            numel * st_dtype_size(t->dtype) != t->nbytes || st_find(&f, t->name) != t)
            abort();
        float *out = malloc(numel * sizeof *out + 1);
        int rc = st_read_f32(&f, t, out, numel, &err);
        bool is_float = t->dtype == ST_F32 || t->dtype == ST_F16 || t->dtype == ST_BF16;
        /* a float tensor is refused only for a NaN or infinity, which it then names */
        if ((rc == 0 && !is_float) || (rc != 0 && is_float && !strstr(err.msg, "NaN") && !strstr(err.msg, "infinite")))
            abort();
        for (size_t k = 0; rc == 0 && k < numel; k++)
            if (!isfinite(out[k]))
                abort();
        free(out);
    }
    st_close(&f);
    return 0;
}
