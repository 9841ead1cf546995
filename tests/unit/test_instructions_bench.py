"""The instruction benchmark's reading of callgrind's output (names compressed as
`(n) name`, a call's inclusive cost on the line after `calls=`)."""

from bench.instructions import costs_by_block

PROFILE = """\
events: Ir
ob=(1) /x/pipeline/_core/abc__mypyc.cpython-311-x86_64-linux-gnu.so
fn=(1) CPyDef_journey___process
0 100
cob=(2) /usr/lib/libpython3.11.so.1.0
cfn=(2) _Py_dict_lookup
calls=3 0
0 40
cfn=(3) CPyDef_carts___apply
calls=1 0
0 10
fn=(3)
+2 10
ob=(2)
fn=(2)
0 40
fn=(4) _PyObject_Malloc
0 5
fn=(5) _PyEval_EvalFrameDefault'2
0 7
"""


def test_self_costs_go_to_their_block_and_calls_are_not_counted_twice(tmp_path):
    path = tmp_path / "callgrind.out"
    path.write_text(PROFILE)
    assert costs_by_block(path) == {
        "core: journey": 100, "core: carts": 10, "interpreter": 47, "allocation": 5
    }  # fmt: skip
