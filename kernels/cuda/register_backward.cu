/* Puts the CUDA backward ops of the encoder graph into the op table. Backends without an
 * entry leave it NULL, and encoder_train_init refuses to train on them. */
#include "kernels/cuda/common.cuh"

void cuda_register_backward(Ops *ops)
{
    ops->embed_backward = embed_backward_cuda;
    ops->layernorm_backward = layernorm_backward_cuda;
    ops->matmul_backward = matmul_backward_cuda;
    ops->bias_gelu_backward = bias_gelu_backward_cuda;
    ops->attention_backward = attention_backward_cuda;
    ops->pool_backward = pool_backward_cuda;
    ops->linear_f32_backward = linear_f32_backward_cuda;
    ops->tanh_backward = tanh_backward_cuda;
    ops->normalize_backward = normalize_backward_cuda;
    ops->add_act = add_act_cuda;
}
