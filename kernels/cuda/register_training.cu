/* Puts the CUDA training-support ops (dropout, zero, sum_squares, scale_f32, f32_to_act,
 * AdamW) and the fused losses into the op table. */
#include "kernels/cuda/train_support.h"

void cuda_register_training(Ops *ops)
{
    ops->dropout = dropout_cuda;
    ops->zero = zero_cuda;
    ops->sum_squares = sum_squares_cuda;
    ops->scale_f32 = scale_f32_cuda;
    ops->f32_to_act = f32_to_act_cuda;
    ops->adamw = adamw_cuda;
    ops->loss_triplet = loss_triplet_cuda;
    ops->loss_mnrl = loss_mnrl_cuda;
    ops->loss_softmax = loss_softmax_cuda;
}
