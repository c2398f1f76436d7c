"""AS-DFD (Ma et al., EMNLP 2020) as reconstructed (docs/method.md): stage 1 Plug & Play Embedding Guessing,
stage 2 adversarial self-supervised distillation. `synthesizer.py` is the plug-in (`AsdfdConfig` and
`AsdfdSynthesizer`, `--method asdfd`); the other modules are its parts."""
