"""MMSR models and their math (no training loop here).

presets              ModelPreset ("tiny" | "quickstart" | "sd2") -> ModelSizes of every component
autoencoder          the image autoencoder (AutoencoderKL or AutoencoderTiny): images <-> scaled latents
autoencoder_fitting  fit an autoencoder from scratch: the stand-in for a pretrained VAE
vq_tokenizer         VQModel f16: rendered 256x256 modality maps -> 16x16 codes (1024-entry codebook)
text_encoder         CLIP tokenizer + text model (SD2 subfolders); tiny generated one for tests
conditioning         ModalityTokens: per-modality frozen token features + per-row presence
modality_attention   cross-attention with per-modality temperature delta_m = s_m * sqrt(d_k)
timestep_temperature M3ESR timestep-aware temperature tau_m(t)
mmlc                 MultimodalLatentConnector: m_empty, modality dropout, latents -> UNet context
conditional_unet     SD2-shaped UNet with the LR (pixels or VAE latent) concatenated to its input
guidance             none / cfg / m_empty-cfg / m-cfg and their negative branches
sampling_options     SamplingOptions: how one super-resolution is sampled, with its bounds
tiling               overlapping blended tiles for latents larger than the training size
sr_pipeline          MMSRPipeline: save/load (safetensors), DDIM sampling; build_tiny_pipeline
sd2_init             an MMSRPipeline started from a Stable Diffusion 2 repository
training_step        diffusion_loss (pixels) / encoded_diffusion_loss (EncodedPair); what is trained / frozen
safe_loading         check a model directory file by file, by content, before any loader opens it
inference_device     device and precision at inference (serve.device, serve.precision)
"""
