// Waits until the server that cargo-leptos started answers /healthz (up to two minutes).
export default async function globalSetup() {
  const url = (process.env.KEYWARD_URL ?? "http://127.0.0.1:3000") + "/healthz";
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`keyward did not become healthy at ${url}`);
}
