"""The NNCF model, its vocabulary, config and artifacts; training and evaluation."""
