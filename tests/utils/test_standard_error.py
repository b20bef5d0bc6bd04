"""Standard error pointed elsewhere at the file-descriptor level, and given back."""

import os

from utils.standard_error import standard_error_to


def test_what_libraries_write_to_standard_error_goes_to_the_log_not_between_the_rows(tmp_path, capfd):
    """TensorFlow's C++ notices are written straight to file descriptor 2; gdl-bench sends them to
    run/bench/tensorflow.log while it times, then gives standard error back."""
    log = tmp_path / "tensorflow.log"
    with standard_error_to(log):
        os.write(2, b"I0000 a C++ notice\n")
    os.write(2, b"after\n")
    assert log.read_text() == "I0000 a C++ notice\n"
    assert capfd.readouterr().err == "after\n"


def test_an_open_file_takes_it_too(tmp_path, capfd):
    with open(tmp_path / "sink", "w+b") as sink:
        with standard_error_to(sink):
            os.write(2, b"Corrupt JPEG data: bad Huffman code\n")
        sink.seek(0)
        assert sink.read() == b"Corrupt JPEG data: bad Huffman code\n"
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"
