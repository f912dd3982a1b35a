"""PyTorch definitions of networks whose pretrained weights ship without model code."""
