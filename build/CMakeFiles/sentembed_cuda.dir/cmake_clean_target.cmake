file(REMOVE_RECURSE
  "libsentembed_cuda.a"
)
