/**
 * `lape export`: a checkpoint (lape's or the reference's) as ONNX, for onnxruntime (Node, web) and other
 * ONNX runtimes, or as safetensors with the reference's names.
 */
import { Command, InvalidArgumentError } from 'commander';
import { extname } from 'node:path';
import {
  DEFAULT_OPSET,
  MAX_OPSET,
  MIN_OPSET,
  ONNX_BATCH_DIM,
  ONNX_INPUT_NAME,
  ONNX_OUTPUT_NAME,
} from '../export/onnx.js';
import { EXPORT_FORMATS, saveOnnx, saveSafetensors, type ExportFormat } from '../export/save.js';
import { modelFromCheckpoint } from '../checkpoint/load_model.js';
import { openCheckpointForCli } from './checkpoint_model.js';
import { addModelFlags, modelRequest } from './model_flags.js';
import { choice, type ModelFlags } from './options.js';

interface ExportFlags extends Omit<ModelFlags, 'model'> {
  model?: string;
  resume: string;
  output: string;
  format?: ExportFormat;
  opset?: number;
  progress: boolean;
}

function opsetFlag(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < MIN_OPSET || n > MAX_OPSET)
    throw new InvalidArgumentError(
      `--opset expects an integer in ${MIN_OPSET}..${MAX_OPSET} (LayerNormalization needs ${MIN_OPSET}), got '${v}'`,
    );
  return n;
}

/** The format from --format, else from the output's extension. */
export function exportFormat(flag: ExportFormat | undefined, output: string): ExportFormat {
  if (flag) return flag;
  const ext = extname(output).toLowerCase().slice(1);
  if ((EXPORT_FORMATS as readonly string[]).includes(ext)) return ext as ExportFormat;
  throw new Error(
    `--format is required when --output does not end in .onnx or .safetensors (got '${output}')`,
  );
}

export function exportCommand(): Command {
  const cmd = new Command('export').description(
    `write a checkpoint as ONNX (input ${ONNX_INPUT_NAME} [${ONNX_BATCH_DIM}, C, H, W], output ${ONNX_OUTPUT_NAME} [${ONNX_BATCH_DIM}, classes]) or safetensors`,
  );
  addModelFlags(cmd)
    .requiredOption('--resume <ckpt>', 'checkpoint: lape or reference .pth, .safetensors, or an https URL')
    .requiredOption('--output <file>', 'where the export goes (written atomically)')
    .option(
      '--format <format>',
      `${EXPORT_FORMATS.join(' or ')} (default: from the --output extension)`,
      choice('--format', EXPORT_FORMATS),
    )
    .option('--opset <n>', `ONNX opset, ${MIN_OPSET}..${MAX_OPSET} (default ${DEFAULT_OPSET})`, opsetFlag)
    .option('--no-progress', 'no download progress bar')
    .action(async (f: ExportFlags) => {
      const format = exportFormat(f.format, f.output);
      if (format !== 'onnx' && f.opset !== undefined)
        throw new Error(`--opset applies to --format onnx only (got --format ${format})`);
      const ckpt = await openCheckpointForCli(f.resume, f.progress);
      const { model, resolved } = modelFromCheckpoint(ckpt, modelRequest(f));
      const name = resolved.name;
      const { inChans, imgSize, numClasses } = model.config;
      switch (format) {
        case 'onnx': {
          const bytes = saveOnnx(f.output, model, {
            opset: f.opset ?? DEFAULT_OPSET,
            metadata: { 'lape.model': name },
          });
          process.stderr.write(
            `wrote ${f.output} (ONNX opset ${f.opset ?? DEFAULT_OPSET}, ${(bytes / 2 ** 20).toFixed(1)} MiB): input ${ONNX_INPUT_NAME} [${ONNX_BATCH_DIM}, ${inChans}, ${imgSize}, ${imgSize}] float32, output ${ONNX_OUTPUT_NAME} [${ONNX_BATCH_DIM}, ${numClasses}]\n`,
          );
          break;
        }
        case 'safetensors':
          saveSafetensors(f.output, model);
          process.stderr.write(`wrote ${f.output} (safetensors, ${model.stateDict().size} tensors)\n`);
          break;
      }
      model.dispose();
    });
  return cmd;
}
