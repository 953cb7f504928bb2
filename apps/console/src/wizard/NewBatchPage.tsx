// New batch, in four steps as in the Asteroid seed: Upload CSV (or paste a JSON array), Map columns, Preview, Configure.
import { Alert, Button, Group, Stack, Stepper, Title } from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { keepPreviousData, useMutation, useQuery } from '@tanstack/react-query';
import { useEffect, useMemo, useState } from 'react';
import { useNavigate } from 'react-router';
import type { ColumnMapping } from '@flotilla/domain';
import { apiFetch, apiUpload, formatError } from '../api';
import type { Page, SavedMappings, WorkflowResponse } from '../workflows/types';
import { buildConfig, initialConfigForm, nameOfFile, type BatchConfig, type ConfigForm } from './config';
import { ConfigureStep, type BatchPlanResponse } from './ConfigureStep';
import { checkCsv, checkJsonItems, type CsvCheck } from './csv';
import { findSavedMapping, initialColumns, mappingProblems, mappingRequestOf, type ColumnState } from './mapping-state';
import { MappingStep } from './MappingStep';
import { PreviewStep, type CsvPreviewResponse } from './PreviewStep';
import { UploadStep, type Source } from './UploadStep';

const UPLOAD = 0;
const MAP = 1;
const PREVIEW = 2;
const CONFIGURE = 3;

interface Restored {
  savedAt: string;
  savedBy: string;
}

export function NewBatchPage() {
  const navigate = useNavigate();
  const [active, setActive] = useState(UPLOAD);
  const [workflowId, setWorkflowId] = useState('');
  const [source, setSource] = useState<Source>('csv');
  const [file, setFile] = useState<File | null>(null);
  // Each file chosen gets its own number: the preview and plan of one file are never shown for another.
  const [fileKey, setFileKey] = useState(0);
  const [csv, setCsv] = useState<CsvCheck | null>(null);
  const [parsing, setParsing] = useState(false);
  const [parseError, setParseError] = useState<string | null>(null);
  const [jsonText, setJsonText] = useState('');
  const [columns, setColumns] = useState<ColumnState[]>([]);
  const [restored, setRestored] = useState<Restored | null>(null);
  const [savedMappingsError, setSavedMappingsError] = useState<string | null>(null);
  const [stepError, setStepError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [form, setForm] = useState<ConfigForm | null>(null);

  const workflows = useQuery({
    queryKey: ['workflows', 'all'],
    queryFn: () => apiFetch<Page<WorkflowResponse>>('/v1/workflows?limit=100'),
  });
  const workflow = workflows.data?.items.find((candidate) => candidate.id === workflowId);
  const inputs = useMemo(() => workflow?.inputs ?? [], [workflow]);

  useEffect(() => {
    const first = workflows.data?.items[0];
    if (workflowId === '' && first) setWorkflowId(first.id);
  }, [workflows.data, workflowId]);

  const jsonCheck = useMemo(() => checkJsonItems(jsonText), [jsonText]);
  const headers = csv?.headers ?? [];
  const problems = useMemo(() => mappingProblems(headers, columns, inputs), [headers, columns, inputs]);
  const mapping = useMemo(() => mappingRequestOf(columns), [columns]);
  const mappingJson = JSON.stringify(mapping);

  const chooseFile = (chosen: File) => {
    setFile(chosen);
    setFileKey((key) => key + 1);
    setCsv(null);
    setParseError(null);
    setStepError(null);
    setParsing(true);
    checkCsv(chosen)
      .then((checked) => setCsv(checked))
      .catch((error: unknown) => setParseError(formatError(error)))
      .finally(() => setParsing(false));
  };

  const preview = useQuery({
    queryKey: ['batch-preview', fileKey, workflowId, mappingJson],
    enabled: active === PREVIEW && source === 'csv' && file !== null,
    staleTime: Infinity,
    retry: false,
    queryFn: () => {
      const body = new FormData();
      body.append('workflowId', workflowId);
      body.append('mapping', mappingJson);
      body.append('file', file as File);
      return apiUpload<CsvPreviewResponse>('/v1/batches/preview', body);
    },
  });

  const configForm = form ?? initialConfigForm(workflow, '');
  const built = useMemo(() => buildConfig(configForm, workflowId), [configForm, workflowId]);
  const configJson = JSON.stringify(built.config);
  const [debouncedConfig] = useDebouncedValue(configJson, 400);
  const localOk = Object.keys(built.problems).length === 0;

  const send = <T,>(path: string, config: BatchConfig): Promise<T> => {
    if (source === 'json') return apiFetch<T>(path, { method: 'POST', json: { ...config, items: jsonCheck.items } });
    const body = new FormData();
    body.append('config', JSON.stringify({ ...config, mapping }));
    body.append('file', file as File);
    return apiUpload<T>(path, body);
  };

  const plan = useQuery({
    queryKey: ['batch-plan', source, fileKey, source === 'json' ? jsonText : mappingJson, debouncedConfig],
    enabled: active === CONFIGURE && localOk && debouncedConfig === configJson,
    placeholderData: keepPreviousData,
    staleTime: Infinity,
    retry: false,
    queryFn: () => send<BatchPlanResponse>('/v1/batches/plan', JSON.parse(debouncedConfig) as BatchConfig),
  });

  const start = useMutation({
    mutationFn: () => send<{ id: string }>('/v1/batches', built.config),
    onSuccess: (created) => void navigate(`/batches/${encodeURIComponent(created.id)}`),
  });

  const enterConfigure = () => {
    if (form === null) {
      const name = source === 'csv' && file ? nameOfFile(file.name) : `${workflow?.name ?? workflowId} items`;
      setForm(initialConfigForm(workflow, name));
    }
    setActive(CONFIGURE);
  };

  const next = async () => {
    setStepError(null);
    if (active === UPLOAD) {
      if (source === 'json') return enterConfigure();
      if (!csv) return;
      setBusy(true);
      try {
        let restoredFrom: Restored | null = null;
        let request: Record<string, ColumnMapping> = {};
        try {
          const list = await apiFetch<SavedMappings>(`/v1/workflows/${encodeURIComponent(workflowId)}/mappings`);
          const found = findSavedMapping(list.items, csv.headers);
          if (found) {
            request = found.mapping;
            restoredFrom = { savedAt: found.savedAt, savedBy: found.savedBy };
          }
          setSavedMappingsError(null);
        } catch (error) {
          setSavedMappingsError(formatError(error));
        }
        setColumns(initialColumns(csv.headers, inputs, request));
        setRestored(restoredFrom);
        setActive(MAP);
      } finally {
        setBusy(false);
      }
      return;
    }
    if (active === MAP) {
      setBusy(true);
      try {
        await apiFetch(`/v1/workflows/${encodeURIComponent(workflowId)}/mappings`, {
          method: 'PUT',
          json: { headers: csv?.headers ?? [], mapping },
        });
        setActive(PREVIEW);
      } catch (error) {
        setStepError(`The mapping could not be saved:\n${formatError(error)}`);
      } finally {
        setBusy(false);
      }
      return;
    }
    if (active === PREVIEW) enterConfigure();
  };

  const back = () => {
    setStepError(null);
    if (active === CONFIGURE && source === 'json') setActive(UPLOAD);
    else setActive(Math.max(UPLOAD, active - 1));
  };

  const canGoOn = (() => {
    if (busy) return false;
    switch (active) {
      case UPLOAD:
        if (!workflow) return false;
        return source === 'json' ? jsonCheck.items !== null : csv !== null && !parsing && csv.fatal.length === 0;
      case MAP:
        return problems.length === 0;
      case PREVIEW:
        return preview.isSuccess;
      default:
        return false;
    }
  })();

  const changeWorkflow = (id: string) => {
    setWorkflowId(id);
    setForm(null);
  };

  const changeSource = (value: Source) => {
    setSource(value);
    setForm(null);
  };

  const jsonSkips = source === 'json' ? 'Not needed for a JSON array' : undefined;

  return (
    <Stack>
      <Title order={2}>New batch</Title>
      <Stepper
        active={active}
        allowNextStepsSelect={false}
        onStepClick={(step) => step < active && (source === 'csv' || step === UPLOAD) && setActive(step)}
      >
        <Stepper.Step label="Upload CSV" description="Workflow and file">
          <UploadStep
            workflows={workflows.data?.items}
            workflowsLoading={workflows.isPending}
            workflowsError={workflows.error}
            workflowId={workflowId}
            onWorkflowId={changeWorkflow}
            source={source}
            onSource={changeSource}
            file={file}
            csv={csv}
            parsing={parsing}
            parseError={parseError}
            onFile={chooseFile}
            onRejected={(message) => setParseError(message)}
            jsonText={jsonText}
            onJsonText={setJsonText}
            jsonCheck={jsonCheck}
          />
        </Stepper.Step>
        <Stepper.Step label="Map columns" description={jsonSkips ?? 'To inputs, profile, metadata'}>
          <MappingStep
            inputs={inputs}
            columns={columns}
            onColumns={setColumns}
            sample={csv?.sample ?? []}
            problems={problems}
            restoredAt={restored?.savedAt ?? null}
            restoredBy={restored?.savedBy ?? null}
            savedMappingsError={savedMappingsError}
          />
        </Stepper.Step>
        <Stepper.Step label="Preview" description={jsonSkips ?? 'First rows, counts'}>
          <PreviewStep preview={preview.data} loading={preview.isFetching} error={preview.error} />
        </Stepper.Step>
        <Stepper.Step label="Configure" description="Pacing and plan">
          <ConfigureStep
            workflow={workflow}
            form={configForm}
            onForm={setForm}
            localProblems={built.problems}
            plan={plan.data}
            planning={plan.isFetching || debouncedConfig !== configJson}
            planError={plan.error}
            startError={start.error}
          />
        </Stepper.Step>
      </Stepper>
      {stepError && (
        <Alert color="red" style={{ whiteSpace: 'pre-line' }}>
          {stepError}
        </Alert>
      )}
      <Group justify="space-between">
        <Button variant="default" onClick={back} disabled={active === UPLOAD || busy || start.isPending}>
          Back
        </Button>
        {active === CONFIGURE ? (
          <Button onClick={() => start.mutate()} loading={start.isPending} disabled={!localOk || !workflow}>
            Start batch
          </Button>
        ) : (
          <Button onClick={() => void next()} loading={busy} disabled={!canGoOn}>
            Next
          </Button>
        )}
      </Group>
    </Stack>
  );
}
