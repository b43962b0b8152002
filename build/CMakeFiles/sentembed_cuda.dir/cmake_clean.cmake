file(REMOVE_RECURSE
  "CMakeFiles/sentembed_cuda.dir/kernels/cuda/device.cu.o"
  "CMakeFiles/sentembed_cuda.dir/kernels/cuda/device.cu.o.d"
  "libsentembed_cuda.a"
  "libsentembed_cuda.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang CUDA)
  include(CMakeFiles/sentembed_cuda.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
