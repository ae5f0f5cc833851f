"""Image files and pixels: reading and writing, 16-bit codecs, sample scaling, MATLAB's bicubic.

Below models, inference, metrics and training data; imports nothing of ours but errors, atomic
writes and the memory guard.
"""
