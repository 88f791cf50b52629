"""The operator docs, shipped in the wheel as data (see ``sfeventlog docs``)."""
