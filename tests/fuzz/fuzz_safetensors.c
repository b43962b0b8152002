/* libFuzzer target over the safetensors reader. The input is the whole file; it goes
 * through a memfd so st_open maps it exactly as it would a file on disk. When st_open
 * accepts it, every float tensor is converted and, besides the sanitizers, the promises
 * st_open makes are checked: each tensor lies inside the data buffer, its size is its
 * element count times the dtype size, and st_find returns it by name. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "host/safetensors.h"

static int fd = -1;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fd = memfd_create("fuzz_safetensors", MFD_CLOEXEC);
    if (fd < 0) {
        perror("fuzz_safetensors: memfd_create");
        exit(1);
    }
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (ftruncate(fd, 0) != 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size))
        abort();
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
        if ((rc == 0) != (t->dtype == ST_F32 || t->dtype == ST_F16 || t->dtype == ST_BF16))
            abort();
        free(out);
    }
    st_close(&f);
    return 0;
}
