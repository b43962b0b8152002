# Empty dependencies file for sentembed_cuda.
# This may be replaced when dependencies are built.
