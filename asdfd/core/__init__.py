"""The bottom layer every other package builds on: errors, atomic files, labelled data, heads, the architecture
registry, model folders and Hub ids, config files, CPU facts, special tokens. Torch-free to import."""
