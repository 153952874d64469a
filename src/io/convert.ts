/**
 * The one-line conversion of a PyTorch `.pt` checkpoint to safetensors, quoted in "no weights found" errors.
 * It unwraps the usual `state_dict` / `model` / `module` nesting, strips a `module.` prefix, and clones every
 * tensor because some checkpoints (EVA-CLIP's) share one tensor among several keys, which safetensors rejects.
 */
export const ptToSafetensorsCommand =
  `python3 -c "import torch, safetensors.torch as st; sd = torch.load('model.pt', map_location='cpu'); ` +
  `sd = next((sd[k] for k in ('state_dict', 'model', 'module') if k in sd), sd); ` +
  `st.save_file({k.removeprefix('module.'): v.contiguous().clone() for k, v in sd.items()}, 'open_clip_model.safetensors')"`;
