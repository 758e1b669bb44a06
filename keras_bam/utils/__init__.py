"""Pieces every layer of keras-bam shares: the student's target keys and the
one module that uses Keras's private API."""
