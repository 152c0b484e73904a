"""The paper modules: one package per paper, each registering its experiments with the engine."""
