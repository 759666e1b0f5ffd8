"""resolve_device: the accepted forms, and one line naming the value for anything else (found by a new user's
`realnet score ... --device bogus`, which printed torch's list of 20 device types)."""
import pytest
import torch

from model_registry.device import resolve_device


def test_accepted_forms(monkeypatch):
    monkeypatch.delenv("REALNET_DEVICE", raising=False)
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device(None).type == ("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setenv("REALNET_DEVICE", "cpu")
    assert resolve_device(None) == torch.device("cpu")


@pytest.mark.parametrize("value", ["bogus", "cpuu", "meta", "xla"])
def test_other_values_are_one_line_errors_naming_the_value(value):
    with pytest.raises(ValueError) as raised:
        resolve_device(value)
    message = str(raised.value)
    assert "\n" not in message and repr(value) in message and "cuda:N" in message


def test_the_environment_variable_is_named_when_it_is_the_source(monkeypatch):
    monkeypatch.setenv("REALNET_DEVICE", "gpu0")
    with pytest.raises(ValueError, match=r"\$REALNET_DEVICE 'gpu0'"):
        resolve_device(None)


def test_ieee_float32_switches_tf32_off_on_cuda_only_and_puts_the_settings_back():
    from model_registry.device import ieee_float32

    conv = torch.backends.cudnn.conv
    before = conv.fp32_precision, torch.backends.cuda.matmul.fp32_precision
    with ieee_float32(torch.device("cpu")):
        assert (conv.fp32_precision, torch.backends.cuda.matmul.fp32_precision) == before
    with pytest.raises(RuntimeError, match="inside"):
        with ieee_float32(torch.device("cuda")):
            backends = torch.backends
            inside = conv.fp32_precision, backends.cudnn.rnn.fp32_precision, backends.cuda.matmul.fp32_precision
            assert inside == ("ieee",) * 3
            raise RuntimeError("inside")
    assert (conv.fp32_precision, torch.backends.cuda.matmul.fp32_precision) == before
