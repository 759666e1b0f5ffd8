import torch

from model_registry import Reduction, layer_blocks, load_model
from model_registry.cornet import CORNET_S_PARAMS, cornet_s_network


def test_cornet_s_has_the_published_parameter_count():
    assert sum(p.numel() for p in cornet_s_network().parameters()) == CORNET_S_PARAMS == 53_416_616


def test_all_nine_recurrent_outputs_come_out_with_their_shapes(image_files):
    model = load_model("cornet_s", pretrained=False, cache=False, progress=False)
    torch.manual_seed(0)
    assembly = model.activations(image_files[:2], ["V1.output", "V2.output", "V4.output", "IT.output"])
    blocks = layer_blocks(assembly)
    expected = {"V1.output": 64 * 56 * 56, **{f"V2.output-t{t}": 128 * 28 * 28 for t in range(2)},
                **{f"V4.output-t{t}": 256 * 14 * 14 for t in range(4)},
                **{f"IT.output-t{t}": 512 * 7 * 7 for t in range(2)}}
    assert {name: block.shape[1] for name, block in blocks.items()} == expected
    assert list(assembly["stimulus_id"].values) == ["stim_0", "stim_1"]
    steps = assembly["time_step"].values[assembly["module"].values == "V4.output"]
    assert sorted(set(steps.tolist())) == [0, 1, 2, 3]
    # recurrent steps differ from each other; the last step equals the block output
    assert not torch.allclose(torch.as_tensor(blocks["V4.output-t0"]), torch.as_tensor(blocks["V4.output-t3"]))
    final = layer_blocks(model.activations(image_files[:2], ["V4"]))["V4"]
    assert torch.allclose(torch.as_tensor(final), torch.as_tensor(blocks["V4.output-t3"]))


def test_single_step_can_be_addressed_and_bad_steps_are_named(image_files):
    model = load_model("cornet_s", pretrained=False, cache=False, progress=False)
    blocks = layer_blocks(model.activations(image_files[:1], ["V4.output-t2"]))
    assert list(blocks) == ["V4.output-t2"]
    try:
        model.activations(image_files[:1], ["V4.output-t7"])
    except ValueError as error:
        assert "called 4 times" in str(error) and "t0..t3" in str(error)
    else:
        raise AssertionError("step 7 of a 4-step module was accepted")


def test_adapter_gives_v4_when_asked_for_v4_after_it(image_files):
    model = load_model("cornet_s", pretrained=False, progress=False)
    model.start_recording("IT", [(70, 170)])
    it = model.look_at(image_files[:2])
    model.start_recording("V4", [(70, 170)])
    v4 = model.look_at(image_files[:2])
    assert it.shape == (2, 512 * 7 * 7, 1)
    assert v4.shape == (2, 256 * 14 * 14, 1)
    assert set(v4["region"].values) == {"V4"}


def test_time_bins_map_onto_recurrent_steps(image_files):
    model = load_model("cornet_s", pretrained=False, progress=False)
    assert model.recording_layers("V4", 4) == [f"V4.output-t{t}" for t in range(4)]
    assert model.recording_layers("IT", 1) == ["IT"]
    model.start_recording("V4", [(0, 50), (50, 100), (100, 150), (150, 200)])
    responses = model.look_at(image_files[:2])
    assert responses.dims == ("presentation", "neuroid", "time_bin")
    assert responses.shape == (2, 256 * 14 * 14, 4)
    assert not (responses.values[..., 0] == responses.values[..., 3]).all()


def test_reductions_bound_feature_counts(image_files):
    model = load_model("cornet_s", pretrained=False, cache=False, progress=False)
    pooled = layer_blocks(model.activations(image_files[:2], ["V1", "IT"], reduction=Reduction("avgpool", size=2)))
    assert pooled["V1"].shape == (2, 64 * 4) and pooled["IT"].shape == (2, 512 * 4)
    projected = model.activations(image_files[:2], ["V1"], reduction=Reduction("project", dim=100, seed=3))
    again = model.activations(image_files[:2], ["V1"], reduction=Reduction("project", dim=100, seed=3))
    assert projected.shape == (2, 100)
    assert (projected.values == again.values).all()


def test_look_at_copies_stimulus_set_columns(image_files):
    from brainscore_core.supported_data_standards.brainio.stimuli import StimulusSet

    rows = [{"stimulus_id": p.stem, "object_name": f"obj{i}"} for i, p in enumerate(image_files[:2])]
    stimulus_set = StimulusSet(rows)
    stimulus_set.stimulus_paths = {p.stem: p for p in image_files[:2]}
    stimulus_set.identifier = "test-columns"
    model = load_model("cornet_s", pretrained=False, progress=False)
    model.start_recording("V1", [(70, 170)])
    responses = model.look_at(stimulus_set)
    assert list(responses["object_name"].values) == ["obj0", "obj1"]
    assert list(responses["stimulus_id"].values) == [p.stem for p in image_files[:2]]
