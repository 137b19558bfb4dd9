"""kotox client: classify Korean comments with the kotox ensemble served by Triton."""
