#include <stdlib.h>
#include <string.h>

#include "trainer/data_source.h"
#include "trainer/dataset.h"

int dataset_load(Dataset *d, const DataSpec *spec, SeError *err)
{
    memset(d, 0, sizeof *d);
    if (spec->shard)
        return se_fail(err, "%s: key \"%s\": evaluation reads a text file, not a shard", spec->config, spec->key);
    DataSource src;
    const DataOptions opt = {0};
    if (data_source_open(&src, spec, &opt, err))
        return -1;
    const size_t K = (size_t)spec->n_columns;
    d->n_columns = spec->n_columns;
    d->dropped = src.dropped;
    d->text = se_xcalloc(src.n * K, sizeof *d->text);
    d->len = se_xmalloc(src.n * K * sizeof *d->len);
    if (spec->has_label)
        d->label = se_xmalloc(src.n * sizeof *d->label);
    RowParser p;
    data_source_parser(&src, &p);
    int rc = 0;
    for (size_t i = 0; i < src.n && rc == 0; i++, d->n_rows++) {
        DataExample ex;
        if ((rc = data_source_read(&src, &p, i, &ex, err)))
            break;
        for (size_t c = 0; c < K; c++) {
            d->len[i * K + c] = ex.len[c];
            d->text[i * K + c] = se_xmalloc(ex.len[c] + 1);
            memcpy(d->text[i * K + c], ex.text[c], ex.len[c]);
            d->text[i * K + c][ex.len[c]] = '\0';
        }
        if (d->label)
            d->label[i] = ex.label;
    }
    row_parser_free(&p);
    data_source_close(&src);
    if (rc)
        dataset_free(d);
    return rc;
}

void dataset_free(Dataset *d)
{
    for (size_t i = 0; d->text && i < d->n_rows * (size_t)d->n_columns; i++)
        free(d->text[i]);
    free(d->text);
    free(d->len);
    free(d->label);
    memset(d, 0, sizeof *d);
}
