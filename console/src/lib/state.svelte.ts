// What every screen shares: who is signed in, the projects, and the project being looked at
// (kept in the URL's query: `#/kiosks?project=prj_…`, so a reload stays put).
import { get, REST, type Project, type SessionInfo } from './api';

export const app = $state({
  ready: false,
  session: null as SessionInfo | null,
  projects: [] as Project[],
  project: '' as string,
});

export async function loadProjects(): Promise<void> {
  app.projects = await get<Project[]>(REST + '/projects');
  if (!app.projects.some((p) => p.id === app.project)) {
    app.project = app.projects[0]?.id ?? '';
  }
}
