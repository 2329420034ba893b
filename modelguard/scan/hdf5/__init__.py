"""HDF5 files read by structure: superblock, object headers, links, attributes, data layouts.

* :mod:`~modelguard.scan.hdf5.reader` — the superblock and object headers (v1 and v2, with
  continuation blocks and shared messages), every read bounded;
* :mod:`~modelguard.scan.hdf5.heaps` — local, global and fractal heaps, and the v1 and v2 B-trees
  that index groups, chunks and dense attribute and link storage;
* :mod:`~modelguard.scan.hdf5.messages` — decoding of the messages that matter: datatype,
  dataspace, attribute, link, link and attribute info, layout, external files, filters;
* :mod:`~modelguard.scan.hdf5.scanner` — the walk of every object and the findings: pickled
  attributes and PyTables object arrays (through the pickle analyser), Keras model configs,
  external storage, external links and virtual datasets that point outside the file.

Why a reader of our own and not h5py: h5py opens a file with the HDF5 C library, whose parser has
a long record of memory-safety bugs on crafted files (heap overflows and out-of-bounds reads in the
object header, B-tree, datatype and filter decoders: dozens of CVEs from 2016 to this day), and a
scanner must not hand hostile bytes to a C parser in its own process. h5py does not follow external
links on open (only on access, and ``visititems`` skips them), but reading external-storage and
virtual-dataset metadata through it means asking the library that resolves them. A reader that
decodes only the structures a loader acts on, with every length and count checked against the
file and a budget, fails closed instead: what it cannot read is a finding. The tests compare it
with h5py on files h5py writes, so the two readings cannot drift apart unnoticed.
"""
