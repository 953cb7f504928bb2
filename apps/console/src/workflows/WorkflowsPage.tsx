export function WorkflowsPage() {
  return <div>WorkflowsPage</div>;
}
