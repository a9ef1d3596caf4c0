// Paths under /console/ (the server answers index.html for all of them).

import { useEffect, useState } from "preact/hooks";

export const BASE = "/console/";

export function go(path: string) {
  history.pushState(null, "", BASE + path.replace(/^\//, ""));
  dispatchEvent(new PopStateEvent("popstate"));
}

export function usePath(): string {
  const [path, setPath] = useState(location.pathname.slice(BASE.length));
  useEffect(() => {
    const on = () => setPath(location.pathname.slice(BASE.length));
    addEventListener("popstate", on);
    return () => removeEventListener("popstate", on);
  }, []);
  return path;
}

/// A real link (keyboard, middle-click, copyable) that routes inside the page.
export function linkProps(path: string) {
  return {
    href: BASE + path.replace(/^\//, ""),
    onClick: (e: MouseEvent) => {
      if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
      e.preventDefault();
      go(path);
    },
  };
}
