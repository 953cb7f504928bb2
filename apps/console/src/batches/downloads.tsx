import { Anchor, Group } from '@mantine/core';
import type { MouseEvent } from 'react';
import { ApiError, authHeaders, getApiKey } from '../api';
import { useNotify } from '../notify';

const DOWNLOADS = [
  { label: 'Download results (CSV)', query: 'format=csv', file: (id: string) => `${id}-results.csv` },
  { label: 'Download results (JSON)', query: 'format=json', file: (id: string) => `${id}-results.json` },
  { label: 'Download failed items (CSV)', query: 'format=csv&status=failed', file: (id: string) => `${id}-failed.csv` },
];

/**
 * The batch's exports as links with their real href. Without a key the browser follows it; with one, a link cannot
 * send the Bearer header, so the click fetches the export with it and saves the answer under the same file name.
 */
export function BatchDownloads({ batchId }: { batchId: string }) {
  const notify = useNotify();
  const download = async (event: MouseEvent<HTMLAnchorElement>, href: string, file: string) => {
    if (!getApiKey()) return;
    event.preventDefault();
    try {
      const response = await fetch(href, { headers: authHeaders() });
      if (!response.ok) throw new ApiError(response.status, `The export answered ${response.status}`);
      const url = URL.createObjectURL(await response.blob());
      const link = document.createElement('a');
      link.href = url;
      link.download = file;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (error) {
      notify({ color: 'red', title: 'Download failed', message: error instanceof Error ? error.message : String(error) });
    }
  };
  return (
    <Group gap="lg">
      {DOWNLOADS.map(({ label, query, file }) => {
        const href = `/v1/batches/${encodeURIComponent(batchId)}/results?${query}`;
        return (
          <Anchor key={label} href={href} download={file(batchId)} onClick={(event) => void download(event, href, file(batchId))}>
            {label}
          </Anchor>
        );
      })}
    </Group>
  );
}
