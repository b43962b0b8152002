file(REMOVE_RECURSE
  "libsentembed_core.a"
)
