"""Tools around the pipeline: the generator, producers, `journey tail` and `journey run`."""
