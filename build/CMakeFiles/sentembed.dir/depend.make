# Empty dependencies file for sentembed.
# This may be replaced when dependencies are built.
