# Empty dependencies file for sentembed_core.
# This may be replaced when dependencies are built.
